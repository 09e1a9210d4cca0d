"""Cron next-fire: a pure wrapper around `croniter`, with our own time-zone handling.

Expressions have 5 fields (minute hour day month weekday) or 6, croniter's form, where
the SIXTH field is seconds (`* * * * * *` is every second; `*/5 * * * * 30` is second
30 of every fifth minute). Times in and out are aware UTC datetimes; `tz` is an IANA
zone name the expression is read in.

Why not hand croniter an aware start time?: with `zoneinfo` zones, croniter 2.x to 5.x
steps wrongly across daylight-saving changes (seen: a fire skipped after the autumn
change, a nonexistent wall time returned). So croniter walks NAIVE wall-clock time,
where there is no DST, and each matching wall time is mapped to UTC here:

- **Gap** (spring forward; 02:30 does not exist in Europe/Berlin on the last Sunday of
  March): the wall time is read with the offset before the change (`fold=0`), so it
  fires shifted forward by the gap (02:30 fires at 03:30 local). A shifted time that
  lands on a real matching time fires once, not twice.
- **Overlap** (fall back; 02:30 happens twice): the wall time fires at its FIRST
  occurrence only, so a daily job runs once a day. A frequent schedule therefore
  pauses during the repeated hour; use `UTC` for interval-like schedules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

# No zone moves its clock by more than 2 h at once, nor twice within 6 h.
_SHIFT = timedelta(hours=3)
# A fixed reference for validation: the domain reads no clock.
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)


class CronError(ValueError):
    """An invalid schedule field; `field` names it (`cron` or `timezone`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def zone(tz: str) -> ZoneInfo:
    """The IANA zone `tz` (raises `CronError` naming `timezone`)."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise CronError("timezone", f"{tz!r} is not an IANA time zone name") from exc


def validate(expr: str, tz: str) -> None:
    """Raise `CronError` naming the field unless `expr` in `tz` ever fires."""
    zone(tz)
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise CronError(
            "cron", f"{expr!r} has {len(fields)} fields; expected 5, or 6 with seconds last"
        )
    if any("H" in f.upper() and not f.isalpha() for f in fields) or "H" in fields:
        raise CronError("cron", "hashed (H) expressions are not supported")
    try:
        if not croniter.is_valid(expr):
            raise CronError("cron", f"{expr!r} is not a valid cron expression")
        next_fire(expr, tz, _REFERENCE)
    except (CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError) as exc:
        raise CronError("cron", f"{expr!r}: {exc}") from exc


def _utc(wall: datetime, where: ZoneInfo) -> datetime:
    # fold=0: a gap time takes the offset before the change; an overlap its first pass.
    return wall.replace(tzinfo=where, fold=0).astimezone(UTC)


def _offset(where: ZoneInfo, moment: datetime) -> timedelta:
    return moment.astimezone(where).utcoffset() or timedelta(0)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _change_near(where: ZoneInfo, moment: datetime) -> datetime | None:
    """The instant the zone's offset changes within 3 h of `moment`, if it does."""
    whole = moment.replace(microsecond=0)
    low, high = whole - _SHIFT, whole + _SHIFT
    before = _offset(where, low)
    if before == _offset(where, high):
        return None
    # Offsets change on whole seconds: bisect to one second.
    while high - low > timedelta(seconds=1):
        mid = low + timedelta(seconds=(high - low).total_seconds() // 2)
        if _offset(where, mid) == before:
            low = mid
        else:
            high = mid
    return high


def _first(expr: str, start: datetime) -> datetime:
    """The first wall time matching `expr` strictly after naive `start`."""
    found: datetime = croniter(expr, start).get_next(datetime)
    return found


def _around(expr: str, where: ZoneInfo, after: datetime, change: datetime) -> datetime:
    # With fold=0, wall times before `edge` read with the old offset and the rest with
    # the new one; each piece maps to UTC in order, so the answer is the earlier of the
    # first candidate of each piece that lands after `after`.
    old, new = _offset(where, change - timedelta(seconds=1)), _offset(where, change)
    edge = _naive(change) + max(old, new)
    found = []
    early = _first(expr, _naive(after) + old)
    if early < edge:
        found.append(_utc(early, where))
    late = _first(expr, max(_naive(after) + new, edge - timedelta(seconds=1)))
    found.append(_utc(late, where))
    return min(u for u in found if u > after)


def next_fire(expr: str, tz: str, after: datetime) -> datetime:
    """The first due time of `expr` in zone `tz` strictly after `after` (aware, UTC)."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    where = zone(tz)
    after = after.astimezone(UTC)
    change = _change_near(where, after)
    if change is None:
        # Away from a change, wall times map to UTC in order: one step of croniter.
        found = _utc(_first(expr, _naive(after) + _offset(where, after)), where)
        change = _change_near(where, found)
        if change is None:
            return found
    return _around(expr, where, after, change)


def missed(expr: str, tz: str, first: datetime, until: datetime, *, limit: int) -> int:
    """How many due times from `first` (itself one) to `until` inclusive, counting at
    most `limit` (a week-long outage of a per-second schedule is not walked second by
    second)."""
    count = 0
    due = first
    while due <= until and count < limit:
        count += 1
        due = next_fire(expr, tz, due)
    return count
