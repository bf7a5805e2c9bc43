//! Error answers of any status and body become a `datagouv::Error` whose
//! message can be shown, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let code = 300 + u16::from_be_bytes(*status) % 300;
    let Ok(response) = http::Response::builder().status(code).body(body.to_vec()) else {
        return;
    };
    let error = futures::executor::block_on(datagouv::Error::from_response(
        reqwest::Response::from(response),
    ));
    let _ = (error.to_string(), format!("{error:?}"), error.status());
});
