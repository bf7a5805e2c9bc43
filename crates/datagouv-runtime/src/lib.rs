//! The seam shared by the generated data.gouv.fr API clients.
//!
//! Every generated client (`datagouv-main`, `datagouv-tabular`,
//! `datagouv-metrics`) carries a [`Hooks`] value and sends each request
//! through it: with no [`Transport`] set (the default) a request goes out
//! as reqwest sends it; with one, the transport checks it first
//! ([`Transport::prepare`]) and then sends it ([`Transport::send`]). The
//! `datagouv` facade implements the transport: authentication per origin,
//! redirects that never carry the key elsewhere, retries, rate-limit state
//! and tracing all live there, at this one place.
//!
//! The [`list`] traits are what the code generation derives for every list
//! of the Main API; the facade turns them into streams.
//!
//! Free-form objects of the answers (`extras`, `metrics`, …) are
//! [`JsonObject`]s: their JSON text, read when asked for.
//!
//! This crate holds no policy of its own and no generated code.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

mod json_object;
pub mod list;
pub mod mask;
mod path;
pub mod slot;
pub use json_object::{JsonObject, NotAnObject};
pub use list::{ListOperation, Page};
pub use path::path_segment;

#[doc(hidden)]
pub use progenitor_client as __progenitor_client;

/// A boxed, sendable future, as [`Transport::send`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the requests of a generated client are checked and sent.
pub trait Transport: Send + Sync + fmt::Debug {
    /// Checks, and may complete, a request before it is sent. An `Err`
    /// stops the request before anything reaches the network; its text is
    /// the message the caller sees.
    fn prepare(
        &self,
        request: &mut reqwest::Request,
        operation: &'static str,
    ) -> Result<(), String> {
        let _ = (request, operation);
        Ok(())
    }

    /// Sends a request with the generated client's `reqwest::Client`.
    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
        operation: &'static str,
    ) -> BoxFuture<'a, reqwest::Result<reqwest::Response>>;
}

/// The hooks a generated client carries: an optional [`Transport`].
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    transport: Option<Arc<dyn Transport>>,
}

impl Hooks {
    /// Hooks that send every request through `transport`.
    pub fn new(transport: Arc<dyn Transport>) -> Self {
        Self {
            transport: Some(transport),
        }
    }

    /// The transport, when one is set.
    pub fn transport(&self) -> Option<&dyn Transport> {
        self.transport.as_deref()
    }
}

/// Implements progenitor's `ClientHooks` for a generated `Client` whose
/// inner type is [`Hooks`], routing its requests through the transport.
#[macro_export]
macro_rules! impl_client_hooks {
    ($client:ty) => {
        impl $crate::__progenitor_client::ClientHooks<$crate::Hooks> for $client {
            async fn pre<E>(
                &self,
                request: &mut ::reqwest::Request,
                info: &$crate::__progenitor_client::OperationInfo,
            ) -> ::std::result::Result<(), $crate::__progenitor_client::Error<E>> {
                let hooks =
                    <$client as $crate::__progenitor_client::ClientInfo<$crate::Hooks>>::inner(
                        self,
                    );
                match hooks.transport() {
                    Some(transport) => transport
                        .prepare(request, info.operation_id)
                        .map_err($crate::__progenitor_client::Error::InvalidRequest),
                    None => Ok(()),
                }
            }

            async fn exec(
                &self,
                request: ::reqwest::Request,
                info: &$crate::__progenitor_client::OperationInfo,
            ) -> ::reqwest::Result<::reqwest::Response> {
                let hooks =
                    <$client as $crate::__progenitor_client::ClientInfo<$crate::Hooks>>::inner(
                        self,
                    );
                let client =
                    <$client as $crate::__progenitor_client::ClientInfo<$crate::Hooks>>::client(
                        self,
                    );
                match hooks.transport() {
                    Some(transport) => transport.send(client, request, info.operation_id).await,
                    None => client.execute(request).await,
                }
            }
        }
    };
}

/// Reads a JSON answer into `T`: what the generated clients call instead of
/// progenitor's `ResponseValue::from_response`. The body is checked as
/// UTF-8 once, whole, and then parsed as a `str`, which spares serde_json
/// re-checking every string it reads (a tenth of the time of a large page).
pub async fn json_response<T, E>(
    response: reqwest::Response,
) -> Result<progenitor_client::ResponseValue<T>, progenitor_client::Error<E>>
where
    T: serde::de::DeserializeOwned,
{
    let status = response.status();
    let headers = response.headers().clone();
    let full = response
        .bytes()
        .await
        .map_err(progenitor_client::Error::ResponseBodyError);
    slot::body_read();
    let full = full?;
    let decoded = match std::str::from_utf8(&full) {
        Ok(text) => serde_json::from_str(text),
        // serde_json then says where the bytes go wrong.
        Err(_) => serde_json::from_slice(&full),
    };
    match decoded {
        Ok(inner) => Ok(progenitor_client::ResponseValue::new(
            inner, status, headers,
        )),
        Err(error) => Err(progenitor_client::Error::InvalidResponsePayload(
            full, error,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    static SLOT_HELD: AtomicBool = AtomicBool::new(false);

    /// Holds a request slot until dropped.
    struct Slot;
    impl Drop for Slot {
        fn drop(&mut self) {
            SLOT_HELD.store(false, Ordering::SeqCst);
        }
    }

    /// Decodes a number, recording whether the slot was still held then.
    struct Probe {
        slot_held_while_decoding: bool,
    }
    impl<'de> serde::Deserialize<'de> for Probe {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            u32::deserialize(deserializer)?;
            Ok(Probe {
                slot_held_while_decoding: SLOT_HELD.load(Ordering::SeqCst),
            })
        }
    }

    #[test]
    fn the_request_slot_is_given_back_before_the_body_is_decoded() {
        let answer = reqwest::Response::from(http::Response::new("42"));
        SLOT_HELD.store(true, Ordering::SeqCst);
        let decoded = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(slot::scope(Slot, json_response::<Probe, ()>(answer)))
            .unwrap();
        assert!(!decoded.into_inner().slot_held_while_decoding);
    }
}
