"""Read a Parquet file with pyarrow, a reader independent of the SDK's writer, and print it as JSON lines.

Run it with the python of the tabular venv (tests/stack/tabular/install.sh puts pyarrow there):

    $STACK_HOME/venv-tabular/bin/python read_parquet.py FILE
    $STACK_HOME/venv-tabular/bin/python read_parquet.py --row-groups FILE

The first form prints one line with the schema, {"column": "arrow type", ...} in file order
(`int64`, `double`, `bool`, `date32[day]`, `timestamp[us]`, `string`, ...), then one line per row,
{"column": value, ...}: dates and timestamps as ISO 8601 strings (`2024-03-30`,
`2024-03-30T22:15:00`, no time zone for naive timestamps), floats as JSON numbers (NaN and the
infinities, which JSON has no number for, as the strings "NaN", "Infinity", "-Infinity"), null as
null. Rows are read one row group at a time.

The second form prints one line: the number of rows of each row group, e.g. [50000, 50000, 123].
"""

import datetime
import json
import math
import signal
import sys

import pyarrow.parquet as pq


def plain(value):
    """A value of `to_pylist()` as JSON can hold it."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def main(argv):
    row_groups = argv[:1] == ["--row-groups"]
    if row_groups:
        argv = argv[1:]
    if len(argv) != 1:
        sys.exit("usage: read_parquet.py [--row-groups] FILE")
    out = sys.stdout
    file = pq.ParquetFile(argv[0])
    if row_groups:
        groups = [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)]
        out.write(json.dumps(groups) + "\n")
        return
    schema = file.schema_arrow
    out.write(json.dumps({field.name: str(field.type) for field in schema}, ensure_ascii=False) + "\n")
    for i in range(file.metadata.num_row_groups):
        table = file.read_row_group(i)
        for row in table.to_pylist():
            line = {name: plain(value) for name, value in row.items()}
            out.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends quietly
    sys.stdout.reconfigure(encoding="utf-8")
    main(sys.argv[1:])
