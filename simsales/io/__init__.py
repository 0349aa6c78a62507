"""The I/O edge: every read of a user's file and every write of an output goes through here.

- :mod:`simsales.io.inputs`: regular files only, one size limit, paths kept inside a base,
  short escaped excerpts in messages.
- :mod:`simsales.io.outputs`: atomic replacement of files and folders, a lock per output,
  refusal of inputs and of folders simsales did not make.
"""

from simsales.io.inputs import (
    allowed_paths,
    excerpt,
    input_limit,
    max_input_bytes,
    read_user_bytes,
    read_user_text,
    resolve_inside,
)
from simsales.io.outputs import claim, replace_dir, result_folder, write_bytes, write_text

__all__ = [
    "allowed_paths",
    "claim",
    "excerpt",
    "input_limit",
    "max_input_bytes",
    "read_user_bytes",
    "read_user_text",
    "replace_dir",
    "resolve_inside",
    "result_folder",
    "write_bytes",
    "write_text",
]
