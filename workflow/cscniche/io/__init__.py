"""Input and output shared by the stages: whole-or-nothing files, tables, AnnData files and partial reads."""

from .files import InputError, atomic_path, read_yaml, write_atomic, write_table
from .h5ad import (
    COPY_BLOCK,
    compress_matrices,
    counts_written_first,
    on_disk_layer,
    read_h5ad_checked,
    write_annotations,
    write_h5ad,
    write_h5ad_with_matrices,
)
from .partial import READ_BLOCK_ROWS, read_stage

__all__ = [
    "COPY_BLOCK", "InputError", "READ_BLOCK_ROWS", "atomic_path", "compress_matrices", "counts_written_first",
    "on_disk_layer", "read_h5ad_checked", "read_stage", "read_yaml", "write_annotations", "write_atomic",
    "write_h5ad", "write_h5ad_with_matrices", "write_table",
]
