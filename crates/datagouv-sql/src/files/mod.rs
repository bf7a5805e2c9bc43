//! Tables of resource files the Tabular API does not serve: a Parquet
//! conversion over HTTP, or the file itself, downloaded and read locally.
