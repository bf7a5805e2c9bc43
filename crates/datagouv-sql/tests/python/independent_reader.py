"""The independent reader the tests of `datagouv_sql::files` compare with:
Python's csv, openpyxl and pyarrow read a file and print its rows as JSON
({"columns": [...], "rows": [[text or null, ...], ...]}), every value as
text (integers without ".0", dates as YYYY-MM-DD). It also writes the XLSX
fixture, since no Rust crate in the tree writes XLSX.

    independent_reader.py csv PATH ENCODING DELIMITER [gzip|zip]
    independent_reader.py xlsx PATH
    independent_reader.py parquet PATH
    independent_reader.py write-xlsx PATH < rows.json   (first row: header)

Needs `pip install pyarrow openpyxl` for the xlsx and parquet modes.
"""

import csv
import datetime
import gzip
import io
import json
import sys
import zipfile


def text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def read_csv(path, encoding, delimiter, wrapper=None):
    if delimiter == "tab":
        delimiter = "\t"
    if wrapper == "gzip":
        raw = gzip.open(path, "rb").read()
    elif wrapper == "zip":
        with zipfile.ZipFile(path) as archive:
            (name,) = [n for n in archive.namelist() if not n.endswith("/")]
            raw = archive.read(name)
    else:
        raw = open(path, "rb").read()
    rows = list(csv.reader(io.StringIO(raw.decode(encoding), newline=""), delimiter=delimiter))
    return rows[0], [[v if v != "" else None for v in row] for row in rows[1:]]


def read_xlsx(path):
    import openpyxl

    sheet = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
    rows = [[text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    return rows[0], rows[1:]


def read_parquet(path):
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns = table.column_names
    rows = [[text(row[c]) for c in columns] for row in table.to_pylist()]
    return columns, rows


def write_xlsx(path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "données"
    for row in json.load(sys.stdin):
        values = []
        for value in row:
            if isinstance(value, dict) and "date" in value:
                value = datetime.date.fromisoformat(value["date"])
            values.append(value)
        sheet.append(values)
    book.create_sheet("autre").append(["ignored"])
    book.save(path)


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "write-xlsx":
        write_xlsx(path)
        return
    if mode == "csv":
        columns, rows = read_csv(path, *sys.argv[3:])
    elif mode == "xlsx":
        columns, rows = read_xlsx(path)
    elif mode == "parquet":
        columns, rows = read_parquet(path)
    else:
        raise SystemExit(f"unknown mode {mode}")
    json.dump({"columns": columns, "rows": rows}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
