-- Metrics API tables, schema `metric`, with the columns of production's monthly views
-- (datagouvfr_data_pipelines dgv/metrics/sql/create_tables.sql). Plain tables here, same columns/types.
-- 36 months m = 0..35: metric_month = to_char(2022-01-01 + m months, 'YYYY-MM') = 2022-01 .. 2024-12.
-- Ids (24 chars like ObjectIds; resources are UUIDs):
--   dataset k = 1..12      'd' || lpad(k, 23, '0')   organization of dataset k = 1 + (k - 1) % 6
--   organization o = 1..6  'a' || lpad(o, 23, '0')
--   reuse r = 1..8         'b' || lpad(r, 23, '0')   organization of reuse r = 1 + (r - 1) % 6
--   dataservice s = 1..6   'c' || lpad(s, 23, '0')   organization of dataservice s = s
--   resource j = 1..15     '20000000-0000-4000-8000-' || lpad(j, 12, '0'), dataset 1 + (j - 1) % 10
-- Values:
--   resources.monthly_download_resource(j, m) = NULL if (j + m) % 12 = 0 else 10 j + 3 m
--   datasets.monthly_visit(k, m)               = NULL if (k + m) % 10 = 0 else 100 k + 7 m + (k m) % 13
--   datasets.monthly_download_resource(k, m)   = SUM of its resources' downloads that month (NULL if none)
--   reuses.monthly_visit(r, m)                 = NULL if (r + m) % 8 = 0 else 50 r + 5 m
--   dataservices.monthly_visit(s, m)           = NULL if (s m) % 11 = 5 else 20 s + 2 m
--   organizations(o, m) and site(m): SUMs of the above (SQL SUM: NULLs skipped, all-NULL gives NULL)
--   *_total: SUMs over all months; outlink columns are NULL (no Matomo data here)
-- Row order (__id): month first, then id number.
CREATE SCHEMA metric;

CREATE TABLE metric.resources (
    __id serial PRIMARY KEY,
    resource_id varchar,
    dataset_id varchar,
    metric_month text,
    monthly_download_resource bigint
);
INSERT INTO metric.resources (resource_id, dataset_id, metric_month, monthly_download_resource)
SELECT '20000000-0000-4000-8000-' || lpad(j::text, 12, '0'),
       'd' || lpad((1 + (j - 1) % 10)::text, 23, '0'),
       to_char(date '2022-01-01' + make_interval(months => m), 'YYYY-MM'),
       CASE WHEN (j + m) % 12 = 0 THEN NULL ELSE 10 * j + 3 * m END
FROM generate_series(0, 35) AS m, generate_series(1, 15) AS j
ORDER BY m, j;

CREATE TABLE metric.datasets (
    __id serial PRIMARY KEY,
    dataset_id varchar,
    organization_id varchar,
    metric_month text,
    monthly_visit bigint,
    monthly_download_resource numeric
);
INSERT INTO metric.datasets (dataset_id, organization_id, metric_month, monthly_visit, monthly_download_resource)
SELECT d.dataset_id, d.organization_id, d.metric_month, d.monthly_visit,
       (SELECT sum(r.monthly_download_resource) FROM metric.resources r
         WHERE r.dataset_id = d.dataset_id AND r.metric_month = d.metric_month)
FROM (
    SELECT m, k,
           'd' || lpad(k::text, 23, '0') AS dataset_id,
           'a' || lpad((1 + (k - 1) % 6)::text, 23, '0') AS organization_id,
           to_char(date '2022-01-01' + make_interval(months => m), 'YYYY-MM') AS metric_month,
           CASE WHEN (k + m) % 10 = 0 THEN NULL ELSE 100 * k + 7 * m + (k * m) % 13 END AS monthly_visit
    FROM generate_series(0, 35) AS m, generate_series(1, 12) AS k
) d
ORDER BY d.m, d.k;

CREATE TABLE metric.reuses (
    __id serial PRIMARY KEY,
    reuse_id varchar,
    metric_month text,
    monthly_visit bigint
);
INSERT INTO metric.reuses (reuse_id, metric_month, monthly_visit)
SELECT 'b' || lpad(r::text, 23, '0'),
       to_char(date '2022-01-01' + make_interval(months => m), 'YYYY-MM'),
       CASE WHEN (r + m) % 8 = 0 THEN NULL ELSE 50 * r + 5 * m END
FROM generate_series(0, 35) AS m, generate_series(1, 8) AS r
ORDER BY m, r;

CREATE TABLE metric.dataservices (
    __id serial PRIMARY KEY,
    dataservice_id varchar,
    metric_month text,
    monthly_visit bigint
);
INSERT INTO metric.dataservices (dataservice_id, metric_month, monthly_visit)
SELECT 'c' || lpad(s::text, 23, '0'),
       to_char(date '2022-01-01' + make_interval(months => m), 'YYYY-MM'),
       CASE WHEN (s * m) % 11 = 5 THEN NULL ELSE 20 * s + 2 * m END
FROM generate_series(0, 35) AS m, generate_series(1, 6) AS s
ORDER BY m, s;

CREATE TABLE metric.organizations (
    __id serial PRIMARY KEY,
    organization_id varchar,
    metric_month text,
    monthly_visit_dataset numeric,
    monthly_download_resource numeric,
    monthly_visit_reuse numeric,
    monthly_visit_dataservice numeric
);
INSERT INTO metric.organizations (organization_id, metric_month, monthly_visit_dataset,
                                  monthly_download_resource, monthly_visit_reuse, monthly_visit_dataservice)
SELECT o.organization_id, o.metric_month,
       (SELECT sum(d.monthly_visit) FROM metric.datasets d
         WHERE d.organization_id = o.organization_id AND d.metric_month = o.metric_month),
       (SELECT sum(d.monthly_download_resource) FROM metric.datasets d
         WHERE d.organization_id = o.organization_id AND d.metric_month = o.metric_month),
       (SELECT sum(r.monthly_visit) FROM metric.reuses r
         WHERE 'a' || lpad((1 + (substr(r.reuse_id, 2)::int - 1) % 6)::text, 23, '0') = o.organization_id
           AND r.metric_month = o.metric_month),
       (SELECT sum(s.monthly_visit) FROM metric.dataservices s
         WHERE 'a' || lpad(substr(s.dataservice_id, 2)::int::text, 23, '0') = o.organization_id
           AND s.metric_month = o.metric_month)
FROM (
    SELECT m, n,
           'a' || lpad(n::text, 23, '0') AS organization_id,
           to_char(date '2022-01-01' + make_interval(months => m), 'YYYY-MM') AS metric_month
    FROM generate_series(0, 35) AS m, generate_series(1, 6) AS n
) o
ORDER BY o.m, o.n;

CREATE TABLE metric.site (
    __id serial PRIMARY KEY,
    metric_month text,
    monthly_visit_dataset numeric,
    monthly_download_resource numeric,
    monthly_visit_reuse numeric
);
INSERT INTO metric.site (metric_month, monthly_visit_dataset, monthly_download_resource, monthly_visit_reuse)
SELECT mm,
       (SELECT sum(monthly_visit) FROM metric.datasets WHERE metric_month = mm),
       (SELECT sum(monthly_download_resource) FROM metric.datasets WHERE metric_month = mm),
       (SELECT sum(monthly_visit) FROM metric.reuses WHERE metric_month = mm)
FROM (SELECT m, to_char(date '2022-01-01' + make_interval(months => m), 'YYYY-MM') AS mm
      FROM generate_series(0, 35) AS m) months
ORDER BY m;

-- totals over all months (production: *_total materialized views)
CREATE TABLE metric.datasets_total AS
SELECT min(__id) AS __id, dataset_id, sum(monthly_visit) AS visit, NULL::bigint AS outlink,
       sum(monthly_download_resource) AS download_resource
FROM metric.datasets GROUP BY dataset_id ORDER BY dataset_id;
CREATE TABLE metric.reuses_total AS
SELECT min(__id) AS __id, reuse_id, sum(monthly_visit) AS visit, NULL::bigint AS outlink
FROM metric.reuses GROUP BY reuse_id ORDER BY reuse_id;
CREATE TABLE metric.organizations_total AS
SELECT min(__id) AS __id, organization_id, sum(monthly_visit_dataset) AS visit_dataset,
       sum(monthly_download_resource) AS download_resource, sum(monthly_visit_reuse) AS visit_reuse,
       sum(monthly_visit_dataservice) AS visit_dataservice, NULL::bigint AS outlink
FROM metric.organizations GROUP BY organization_id ORDER BY organization_id;
CREATE TABLE metric.resources_total AS
SELECT min(__id) AS __id, resource_id, dataset_id, sum(monthly_download_resource) AS download_resource
FROM metric.resources GROUP BY resource_id, dataset_id ORDER BY resource_id;
CREATE TABLE metric.dataservices_total AS
SELECT min(__id) AS __id, dataservice_id, sum(monthly_visit) AS visit
FROM metric.dataservices GROUP BY dataservice_id ORDER BY dataservice_id;
