//! Request slots that end when the answer's body has been read, before it
//! is decoded.
//!
//! A caller that keeps a bounded number of requests in flight (the facade's
//! list prefetch) runs each call inside [`scope`] with a token that holds
//! its slot (a semaphore permit, say). [`crate::json_response`] drops the
//! token as soon as the body is in memory, so the next request can start
//! while this one is still being decoded; otherwise the token is dropped
//! when the call ends.

use std::{any::Any, cell::RefCell, future::Future};

tokio::task_local! {
    static SLOT: RefCell<Option<Box<dyn Any + Send>>>;
}

/// Runs `call` holding `token` until the answer's body has been read (or
/// until `call` ends, whichever comes first).
pub async fn scope<F: Future>(token: impl Any + Send, call: F) -> F::Output {
    SLOT.scope(RefCell::new(Some(Box::new(token))), call).await
}

/// Drops the token of the current [`scope`], if any: the body is read.
pub(crate) fn body_read() {
    let token = SLOT
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten();
    drop(token);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn the_token_goes_when_the_body_is_read_or_when_the_call_ends() {
        let released = Arc::new(AtomicBool::new(false));
        let seen = released.clone();
        block_on(scope(Flag(released.clone()), async move {
            assert!(!seen.load(Ordering::SeqCst));
            body_read();
            assert!(seen.load(Ordering::SeqCst), "dropped at body_read");
            body_read(); // a second read (another request of the call) is harmless
        }));

        let released = Arc::new(AtomicBool::new(false));
        let seen = released.clone();
        block_on(scope(Flag(released.clone()), async move {
            assert!(!seen.load(Ordering::SeqCst));
        }));
        assert!(
            released.load(Ordering::SeqCst),
            "dropped when the call ended"
        );

        body_read(); // outside any scope: nothing happens
    }
}
