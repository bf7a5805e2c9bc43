//! The workspace integration tests, in one binary (linking is the slow part
//! on two cores): API drift snapshots and decoding of the payloads the real
//! servers send.

mod bounds;
mod decode;
mod downloads;
mod drift;
mod facade;
mod fault_server;
mod faults;
mod lists;
mod publish;
mod secrets;
mod sync;
mod tabular_export;
mod tabular_metrics;
mod tabular_query;
mod udata;
