//! The one Tokio runtime every call runs on, blocking calls that Ctrl-C
//! interrupts, and the `async` twins' awaitables.

use pyo3::{exceptions::PyRuntimeError, prelude::*, types::PyCFunction};
use std::{
    future::Future,
    sync::{Mutex, OnceLock},
    time::Duration,
};
use tokio::runtime::Runtime;

use crate::errors::{Failure, fork_error};

/// The runtime and the process it was started in.
static RUNTIME: OnceLock<(Runtime, u32)> = OnceLock::new();

/// How often a blocking call looks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// How long an interrupted call's work may take to stop (files it was
/// writing are left consistent, e.g. an export's partial file).
const STOP_GRACE: Duration = Duration::from_millis(500);

/// The runtime, started on first use. In a child forked after it started,
/// its threads do not exist: an error, rather than a hang.
pub(crate) fn runtime() -> PyResult<&'static Runtime> {
    let (runtime, pid) = RUNTIME.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("datagouv_rs")
            .build()
            .expect("the Tokio runtime starts");
        (runtime, std::process::id())
    });
    if *pid != std::process::id() {
        return Err(fork_error());
    }
    // The `async` twins run on this same runtime.
    let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime);
    Ok(runtime)
}

/// Runs `work` on the runtime with the GIL released, and returns its
/// result. Ctrl-C (any pending Python signal) stops the work: it is
/// cancelled, given [`STOP_GRACE`] to unwind, and the signal's exception
/// (KeyboardInterrupt) is raised.
pub(crate) fn wait<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Failure>> + Send + 'static,
{
    let runtime = runtime()?;
    let mut task = runtime.spawn(work);
    loop {
        let joined = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut task).await })
        });
        match joined {
            Ok(Ok(result)) => return result.map_err(|failure| failure.into_pyerr(py)),
            Ok(Err(join_error)) => {
                return Err(Failure::Panicked(join_error.to_string()).into_pyerr(py));
            }
            Err(_still_running) => {
                if let Err(signal) = py.check_signals() {
                    task.abort();
                    py.detach(|| {
                        runtime.block_on(async {
                            let _ = tokio::time::timeout(STOP_GRACE, &mut task).await;
                        })
                    });
                    return Err(signal);
                }
            }
        }
    }
}

/// A coroutine (what an `async def` returns) running `work` on the runtime
/// once awaited; `convert` makes its result a Python object, with the GIL
/// held. Like a coroutine, it can be made outside any event loop
/// (`asyncio.run(client.dataset_async(id))`): the asyncio future is made
/// only when it is awaited, in the loop that awaits it.
pub(crate) fn awaitable<'py, T, F, C>(
    py: Python<'py>,
    work: F,
    convert: C,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    runtime()?;
    let pending = Mutex::new(Some((work, convert)));
    let start = PyCFunction::new_closure(py, None, None, move |args, _| -> PyResult<Py<PyAny>> {
        let py = args.py();
        let taken = pending
            .lock()
            .map_err(|_| Failure::Panicked("a poisoned lock".into()).into_pyerr(py))?
            .take();
        let Some((work, convert)) = taken else {
            return Err(PyRuntimeError::new_err(
                "cannot reuse an already awaited coroutine",
            ));
        };
        let future = pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let result = work.await;
            Python::attach(|py| match result {
                Ok(value) => convert(py, value),
                Err(failure) => Err(failure.into_pyerr(py)),
            })
        })?;
        Ok(future.unbind())
    })?;
    py.import("datagouv_rs._later")?
        .getattr("later")?
        .call1((start,))
}
