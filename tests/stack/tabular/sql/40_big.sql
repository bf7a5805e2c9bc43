-- Fixture `big` (10000000-0000-4000-8000-000000000005): 200,000 rows, built server-side.
-- Row i (= __id), i = 1..200000:
--   rang    int     i
--   libelle string  'ligne ' || i
--   montant float   (i % 1000) * 0.5 + 0.25         (exact in binary)
--   jour    date    2000-01-01 + (i % 3650) days
-- Exports (/data/csv/, /data/json/) are refused above 50,000 matching rows; `__id__less=50000` exports
-- exactly rows 1..50000.
CREATE TABLE public."679c7414c1bbe2b2b95c1c7ed2702c02" (
    __id serial PRIMARY KEY,
    rang bigint,
    libelle varchar,
    montant float,
    jour date
);
INSERT INTO public."679c7414c1bbe2b2b95c1c7ed2702c02" (rang, libelle, montant, jour)
SELECT i, 'ligne ' || i, (i % 1000) * 0.5 + 0.25, date '2000-01-01' + i % 3650
FROM generate_series(1, 200000) AS i
ORDER BY i;

INSERT INTO public.tables_index (parsing_table, csv_detective, resource_id, url, created_at, deleted_at, dataset_id)
VALUES (
    '679c7414c1bbe2b2b95c1c7ed2702c02',
    fixtures.csv_detective('679c7414c1bbe2b2b95c1c7ed2702c02', '[
        ["rang", "int", "int"],
        ["libelle", "string", "string"],
        ["montant", "float", "float"],
        ["jour", "date", "date"]
    ]'),
    '10000000-0000-4000-8000-000000000005',
    'https://static.data.gouv.fr/resources/datagouv-rs-fixtures/big.csv',
    '2024-05-02 14:00:00+00',
    NULL,
    'd00000000000000000000004'
);
