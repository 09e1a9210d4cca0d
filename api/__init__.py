"""The Taskstream REST API: commands in, read-model queries out (`create_app`)."""
