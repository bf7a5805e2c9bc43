//! Typed rows of the Metrics API's known models.
//!
//! Columns as production's monthly tables name them; every field is
//! optional (months without data are NULL), and columns this SDK does not
//! know yet land in `extra`, so a new server column never breaks decoding.
//! Models without a type here read as `serde_json::Map<String, Value>`.

use serde::{Deserialize, Serialize};

/// Columns a known model may gain later: kept, not lost.
pub type Extra = serde_json::Map<String, serde_json::Value>;

macro_rules! metrics_row {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// The row number the server gives every row.
            #[serde(rename = "__id", default)]
            pub id: Option<u64>,
            /// The month, `YYYY-MM`.
            #[serde(default)]
            pub metric_month: Option<String>,
            $($(#[$field_doc])* #[serde(default)] pub $field: Option<$ty>,)*
            /// Columns not listed above.
            #[serde(flatten)]
            pub extra: Extra,
        }
    };
}

metrics_row!(
    /// A month of the whole site (model `site`).
    SiteMetrics {
        /// Visits of dataset pages.
        monthly_visit_dataset: f64,
        /// Downloads of resources.
        monthly_download_resource: f64,
        /// Visits of reuse pages.
        monthly_visit_reuse: f64,
    }
);

metrics_row!(
    /// A month of one dataset (model `datasets`).
    DatasetMetrics {
        /// The dataset id.
        dataset_id: String,
        /// The organization publishing it.
        organization_id: String,
        /// Visits of the dataset page.
        monthly_visit: f64,
        /// Downloads of its resources.
        monthly_download_resource: f64,
    }
);

metrics_row!(
    /// A month of one organization (model `organizations`).
    OrganizationMetrics {
        /// The organization id.
        organization_id: String,
        /// Visits of its datasets.
        monthly_visit_dataset: f64,
        /// Downloads of its resources.
        monthly_download_resource: f64,
        /// Visits of its reuses.
        monthly_visit_reuse: f64,
        /// Visits of its dataservices.
        monthly_visit_dataservice: f64,
    }
);

metrics_row!(
    /// A month of one reuse (model `reuses`).
    ReuseMetrics {
        /// The reuse id.
        reuse_id: String,
        /// Visits of the reuse page.
        monthly_visit: f64,
    }
);

metrics_row!(
    /// A month of one resource (model `resources`).
    ResourceMetrics {
        /// The resource id.
        resource_id: String,
        /// The dataset holding it.
        dataset_id: String,
        /// Downloads.
        monthly_download_resource: f64,
    }
);

metrics_row!(
    /// A month of one dataservice (model `dataservices`).
    DataserviceMetrics {
        /// The dataservice id.
        dataservice_id: String,
        /// Visits of the dataservice page.
        monthly_visit: f64,
    }
);
