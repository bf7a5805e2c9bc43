-- Fixture `sql_bench` (10000000-0000-4000-8000-000000000023): 300,000 rows, built server-side, for the SQL
-- benchmark of issue 23 (scripts/bench.sh, scenario `sql`). Not on the aggregation whitelist (no
-- resources_exceptions row): the Tabular API answers a `GROUP BY` on it with 403, so the query engine
-- computes it. Row i (= __id), i = 1..300000:
--   region   string  one of 13 region names, the (i % 13)th
--   annee    int     2015 + i % 10
--   montant  float   (i % 2000) * 0.25            (exact in binary)
-- Cheap to load: three narrow columns, one INSERT … SELECT, a profile over 300,000 rows.
CREATE TABLE public."5f1c0e2d9b8a47c6a3e2d1c0b9a8f7e6" (
    __id serial PRIMARY KEY,
    region varchar,
    annee bigint,
    montant float
);
INSERT INTO public."5f1c0e2d9b8a47c6a3e2d1c0b9a8f7e6" (region, annee, montant)
SELECT (ARRAY['Auvergne-Rhône-Alpes', 'Bourgogne-Franche-Comté', 'Bretagne', 'Centre-Val de Loire', 'Corse',
              'Grand Est', 'Hauts-de-France', 'Île-de-France', 'Normandie', 'Nouvelle-Aquitaine', 'Occitanie',
              'Pays de la Loire', 'Provence-Alpes-Côte d''Azur'])[1 + i % 13],
       2015 + i % 10,
       (i % 2000) * 0.25
FROM generate_series(1, 300000) AS i
ORDER BY i;

INSERT INTO public.tables_index (parsing_table, csv_detective, resource_id, url, created_at, deleted_at, dataset_id)
VALUES (
    '5f1c0e2d9b8a47c6a3e2d1c0b9a8f7e6',
    fixtures.csv_detective('5f1c0e2d9b8a47c6a3e2d1c0b9a8f7e6', '[
        ["region", "string", "string"],
        ["annee", "int", "int"],
        ["montant", "float", "float"]
    ]'),
    '10000000-0000-4000-8000-000000000023',
    'https://static.data.gouv.fr/resources/datagouv-rs-fixtures/sql-bench.csv',
    '2024-05-02 15:00:00+00',
    NULL,
    'd00000000000000000000023'
);
