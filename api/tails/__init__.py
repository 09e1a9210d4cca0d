"""Live tails: the events and logs topics followed in the API process, fanned out to clients."""
