"""What-if overlays: deep-merge a partial scenario onto a base.

Mappings merge key by key; ``null`` removes a key. A list of objects with ``id`` merges by id: the
overlay may be a mapping ``{id: patch}`` (patching existing items; ``null`` removes one) or a list
of objects with ids (patching or appending). Anything else replaces the base value.

Whatever the overlay adds that the base does not have (a key, an appended item) is reported to
an ``on_new`` callback, so the caller can refuse names that point at nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["OverlayError", "merge"]

Loc = tuple[str | int, ...]
Record = Callable[[Loc, Loc], None]
OnNew = Callable[[Loc, Loc, Any], None]  # (merged loc, overlay loc, value); may raise


class OverlayError(ValueError):
    """An overlay that cannot apply; ``loc`` is its place inside the overlay."""

    def __init__(self, loc: Loc, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.loc, self.message, self.hint = loc, message, hint


def _has_ids(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, dict) and "id" in x for x in value)


def merge(
    base: Any,
    overlay: Any,
    record: Record | None = None,
    on_new: OnNew | None = None,
    _at: Loc = (),
    _from: Loc = (),
) -> Any:
    """Return ``base`` with ``overlay`` merged in (neither is modified).

    ``record(merged_loc, overlay_loc)`` is called for every node the overlay provides, so the
    caller can point error messages at the overlay's lines; ``on_new(merged_loc, overlay_loc,
    value)`` for every key or item the overlay adds.
    """
    note = record or (lambda _a, _b: None)
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            note((*_at, key), (*_from, key))
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], value, record, on_new, (*_at, key), (*_from, key))
            else:
                if on_new is not None:
                    on_new((*_at, key), (*_from, key), value)
                out[key] = value
                _record_all(value, (*_at, key), (*_from, key), note)
        return out
    if _has_ids(base) and (isinstance(overlay, dict) or _has_ids(overlay)):
        return _merge_by_id(base, overlay, note, record, on_new, _at, _from)
    _record_all(overlay, _at, _from, note)
    return overlay


def _merge_by_id(
    base: list[dict[str, Any]],
    overlay: Any,
    note: Record,
    record: Record | None,
    on_new: OnNew | None,
    at: Loc,
    frm: Loc,
) -> list[Any]:
    out: list[Any] = list(base)
    index = {str(item["id"]): i for i, item in enumerate(out)}
    if isinstance(overlay, dict):
        patches = [(str(k), v, (*frm, k)) for k, v in overlay.items()]
        for key, _, loc in patches:
            if key not in index:
                from simsales.scenario.references import did_you_mean

                raise OverlayError(
                    loc,
                    f"no item with id {key!r} to change",
                    _then(
                        did_you_mean(key, index) or "no items yet",
                        "to add one, give its whole definition in a list of objects with ids",
                    ),
                )
    else:
        patches = [(str(item["id"]), item, (*frm, i)) for i, item in enumerate(overlay)]
    removed: set[int] = set()
    for key, patch, loc in patches:
        if key in index:
            i = index[key]
            if patch is None:
                removed.add(i)
            else:
                out[i] = merge(out[i], patch, record, on_new, (*at, i), loc)
        elif patch is not None:
            if on_new is not None:
                on_new((*at, len(out)), loc, patch)
            index[key] = len(out)
            out.append(patch)
            _record_all(patch, (*at, len(out) - 1), loc, note)
    return [item for i, item in enumerate(out) if i not in removed]


def _then(first: str, advice: str) -> str:
    return f"{first} {advice}" if first.endswith("?") else f"{first}; {advice}"


def _record_all(value: Any, at: Loc, frm: Loc, note: Record) -> None:
    note(at, frm)
    if isinstance(value, dict):
        for key, child in value.items():
            _record_all(child, (*at, key), (*frm, key), note)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _record_all(child, (*at, i), (*frm, i), note)
