//! Work run on a task of the current Tokio runtime, so that it goes on
//! (reading an answer, decoding a page) while its caller is busy elsewhere:
//! the paginator's pages and an export's windows.

use std::future::Future;

use crate::Error;

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `call` on a task of the current runtime, or in place when there is
/// none. The task starts now and is aborted when the returned future is
/// dropped, so nothing is left running for a caller that gave up. A panic
/// in the task is resumed in the caller; `what` names the work in the
/// error of a runtime that shut down meanwhile.
pub(crate) fn on_task<T: Send + 'static>(
    call: impl Future<Output = Result<T, Error>> + Send + 'static,
    what: &'static str,
) -> impl Future<Output = Result<T, Error>> + Send {
    let task = match tokio::runtime::Handle::try_current() {
        Ok(runtime) => Ok(runtime.spawn(call)),
        Err(_) => Err(call),
    };
    let abort = task
        .as_ref()
        .ok()
        .map(|task| AbortOnDrop(task.abort_handle()));
    async move {
        let _abort = abort;
        match task {
            Ok(task) => match task.await {
                Ok(result) => result,
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                Err(_) => Err(Error::InvalidInput(format!(
                    "the runtime shut down while {what}"
                ))),
            },
            Err(call) => call.await,
        }
    }
}
