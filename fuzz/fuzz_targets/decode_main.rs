//! Every Main API page type and the main object types: any bytes decode or
//! fail with an error, never a panic. The first byte picks the type.
#![no_main]

use datagouv_main::{v1::types as v1, v2::types as v2};
use libfuzzer_sys::fuzz_target;

macro_rules! decoders {
    ($($ty:ty),* $(,)?) => {
        &[$(|bytes: &[u8]| { let _ = serde_json::from_slice::<$ty>(bytes); }),*]
    };
}

const DECODERS: &[fn(&[u8])] = decoders![
    v1::ActivityPage,
    v1::ChartPage,
    v1::CommunityResourcePage,
    v1::ContactPointPage,
    v1::DataservicePage,
    v1::DatasetPage,
    v1::DiscussionPage,
    v1::FollowPage,
    v1::HarvestItemPage,
    v1::HarvestJobPage,
    v1::HarvestSourcePage,
    v1::NotificationPage,
    v1::NotificationSettingPage,
    v1::OrganizationPage,
    v1::PostPage,
    v1::ReportPage,
    v1::ReusePage,
    v1::UserPage,
    v1::DatasetRead,
    v1::Dataset,
    v1::OrganizationRead,
    v1::ReuseRead,
    v1::UserRead,
    v1::DiscussionRead,
    v1::Resource,
    v1::SiteRead,
    v1::UploadedResource,
    v1::UploadedImage,
    v2::DataserviceSearchPage,
    v2::DatasetPage,
    v2::DatasetSearchPage,
    v2::DiscussionPage,
    v2::OrganizationSearchPage,
    v2::PostPage,
    v2::ResourcePage,
    v2::ReusePage,
    v2::ReuseSearchPage,
    v2::TopicElementPage,
    v2::TopicPage,
    v2::TopicSearchPage,
    v2::Dataset,
    v2::SpecificResource,
];

fuzz_target!(|data: &[u8]| {
    if let Some((first, rest)) = data.split_first() {
        DECODERS[*first as usize % DECODERS.len()](rest);
    }
});
