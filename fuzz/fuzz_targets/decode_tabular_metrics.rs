//! Tabular rows, pages and profiles; Metrics pages and typed rows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    match first % 9 {
        0 => drop(serde_json::from_slice::<
            datagouv_tabular::types::ResourceData,
        >(rest)),
        1 => drop(serde_json::from_slice::<
            datagouv_tabular::types::ResourceProfileResponse,
        >(rest)),
        2 => drop(serde_json::from_slice::<
            datagouv_tabular::types::MetaResourceInfo,
        >(rest)),
        3 => drop(serde_json::from_slice::<
            datagouv_tabular::types::AggregationExceptions,
        >(rest)),
        4 => drop(serde_json::from_slice::<
            Vec<serde_json::Map<String, serde_json::Value>>,
        >(rest)),
        5 => drop(serde_json::from_slice::<datagouv_metrics::types::MetricsPage>(rest)),
        6 => drop(serde_json::from_slice::<datagouv::metrics::DatasetMetrics>(
            rest,
        )),
        7 => drop(serde_json::from_slice::<datagouv::metrics::SiteMetrics>(
            rest,
        )),
        _ => drop(serde_json::from_slice::<
            datagouv::metrics::OrganizationMetrics,
        >(rest)),
    }
});
