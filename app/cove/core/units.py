"""Sizes and durations in words for people: file sizes, memory and time left."""

from __future__ import annotations


def format_bytes(size: int | float | None) -> str:
    """Decimal units, as disks and the hub count: 98362432 -> "98.4 MB"."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def format_memory(size: int | None) -> str:
    """Binary units, as operating systems count memory: 8 GiB -> "8.0 GB"."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("bytes", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def format_duration(seconds: float) -> str:
    """A rough time for people: "45 s", "3 min", "1 h 5 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def date_group(when: float, now: float) -> str:
    """Which heading a conversation last changed at `when` sits under, as chat apps group
    them: "Today", "Yesterday", "Previous 7 days", "Previous 30 days", then by month."""
    import datetime as dt

    day = dt.date.fromtimestamp(when)
    today = dt.date.fromtimestamp(now)
    days = (today - day).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days < 7:
        return "Previous 7 days"
    if days < 30:
        return "Previous 30 days"
    return day.strftime("%B %Y") if day.year != today.year else day.strftime("%B")
