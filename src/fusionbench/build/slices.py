"""Per-(task, split) row storage for the build's second pass: in memory, or spilled to Arrow IPC files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Slice:
    """The converted rows of one (task, split): in memory, or spilled to an Arrow IPC file."""

    def __init__(self, path: Path, task: str, split: str) -> None:
        self.path, self.task, self.split = path, task, split
        self.tables, self.writer = [], None
        self.nbytes = 0  # of the rows held in memory

    def add(self, table: pa.Table) -> None:
        if self.writer is None:
            self.tables.append(table)
            self.nbytes += table.nbytes
        else:
            self.writer.write_table(table)

    def spill(self) -> None:
        if self.writer is None:
            self.writer = pa.ipc.new_file(self.path, self.tables[0].schema)
        for table in self.tables:
            self.writer.write_table(table)
        self.tables, self.nbytes = [], 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()  # closing twice is harmless

    def read(self) -> pa.Table:
        if self.writer is None:
            return pa.concat_tables(self.tables)
        self.close()
        with pa.memory_map(str(self.path)) as source:
            return pa.ipc.open_file(source).read_all()


def ranks(column: pa.ChunkedArray) -> tuple[np.ndarray, int, list[str]]:
    """Each value's rank among the column's distinct values (so sorting ranks sorts the strings), the number
    of distinct values, and those values in rank order."""
    encoded = column.combine_chunks().dictionary_encode()
    order = pc.array_sort_indices(encoded.dictionary).to_numpy()
    rank_of = np.empty(len(order), dtype=np.int64)
    rank_of[order] = np.arange(len(order))
    return rank_of[encoded.indices.to_numpy()], len(order), encoded.dictionary.take(pa.array(order)).to_pylist()
