import pandas as pd
import pytest

from cscniche.io import write_atomic, write_table


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out" / "table.tsv"

    def broken(tmp):
        tmp.write_text("half a tab")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, broken)
    assert list(target.parent.iterdir()) == []


def test_gzipped_tables_are_byte_identical(tmp_path):
    df = pd.DataFrame({"cell_id": ["a", "b"], "x": [1.5, 2.0]})
    write_table(df, tmp_path / "one.tsv.gz")
    write_table(df, tmp_path / "two.tsv.gz")
    assert (tmp_path / "one.tsv.gz").read_bytes() == (tmp_path / "two.tsv.gz").read_bytes()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one.tsv.gz", sep="\t"), df)
