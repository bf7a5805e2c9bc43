-- Fixture `sorted` (10000000-0000-4000-8000-000000000006): 120,000 rows for sorted exports past the
-- 50,000-row cap (three windows), built server-side. Row i (= __id), i = 1..120000:
--   nom                 string  NULL if i % 20 < 9 (54,000 NULLs: they straddle a window edge in both
--                               directions), else WORDS[1 + i % 12] || ' ' || (i % 397)
--   valeur              int     i % 3                     (runs of 40,000 equal values: every window
--                               edge falls inside one)
--   montant             float   (i % 1000) * 0.25         (exact in binary)
--   "Population (2021)" int     NULL if i % 17 = 0, else i % 5000   (a name the groups must quote)
-- WORDS mixes accents, case and scripts so that the order is the collation's, not ASCII's.
CREATE TABLE public."3b1f0c9e6a5d4c2b8e7f6a5b4c3d2e1f" (
    __id serial PRIMARY KEY,
    nom varchar,
    valeur bigint,
    montant float,
    "Population (2021)" bigint
);
INSERT INTO public."3b1f0c9e6a5d4c2b8e7f6a5b4c3d2e1f" (nom, valeur, montant, "Population (2021)")
SELECT
    CASE WHEN i % 20 < 9 THEN NULL ELSE (ARRAY[
        'Élodie', 'élan', 'Zoë', 'zèbre', 'Ålborg', 'abc', 'Abc', 'ÉMILE', '李', 'émile', 'Ça', 'cab'
    ])[1 + i % 12] || ' ' || (i % 397) END,
    i % 3,
    (i % 1000) * 0.25,
    CASE WHEN i % 17 = 0 THEN NULL ELSE i % 5000 END
FROM generate_series(1, 120000) AS i
ORDER BY i;

INSERT INTO public.tables_index (parsing_table, csv_detective, resource_id, url, created_at, deleted_at, dataset_id)
VALUES (
    '3b1f0c9e6a5d4c2b8e7f6a5b4c3d2e1f',
    fixtures.csv_detective('3b1f0c9e6a5d4c2b8e7f6a5b4c3d2e1f', '[
        ["nom", "string", "string"],
        ["valeur", "int", "int"],
        ["montant", "float", "float"],
        ["Population (2021)", "int", "int"]
    ]'),
    '10000000-0000-4000-8000-000000000006',
    'https://static.data.gouv.fr/resources/datagouv-rs-fixtures/sorted.csv',
    '2024-05-02 15:00:00+00',
    NULL,
    'd00000000000000000000005'
);

-- Fixture `shapes` (10000000-0000-4000-8000-000000000007): 40 rows; every column holds the same
-- text, so one expected set serves every column shape inside or/and groups. Row i (= __id),
-- i = 1..40, in each column: NULL if i % 10 = 0, else (i % 13)::text (compared as text).
CREATE TABLE public."5c2e1d0f9b8a7c6d5e4f3a2b1c0d9e8f" (
    __id serial PRIMARY KEY,
    plain varchar,
    "élément" varchar,
    "nom complet" varchar,
    "Population (2021)" varchar,
    "avg.views" varchar,
    "l'année" varchar,
    "taux %" varchar,
    "part_%" varchar
);
INSERT INTO public."5c2e1d0f9b8a7c6d5e4f3a2b1c0d9e8f"
    (plain, "élément", "nom complet", "Population (2021)", "avg.views", "l'année", "taux %", "part_%")
SELECT v, v, v, v, v, v, v, v
FROM (SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE (i % 13)::text END AS v FROM generate_series(1, 40) AS i) AS s
ORDER BY i;

INSERT INTO public.tables_index (parsing_table, csv_detective, resource_id, url, created_at, deleted_at, dataset_id)
VALUES (
    '5c2e1d0f9b8a7c6d5e4f3a2b1c0d9e8f',
    fixtures.csv_detective('5c2e1d0f9b8a7c6d5e4f3a2b1c0d9e8f', '[
        ["plain", "string", "string"],
        ["élément", "string", "string"],
        ["nom complet", "string", "string"],
        ["Population (2021)", "string", "string"],
        ["avg.views", "string", "string"],
        ["l''année", "string", "string"],
        ["taux %", "string", "string"],
        ["part_%", "string", "string"]
    ]'),
    '10000000-0000-4000-8000-000000000007',
    'https://static.data.gouv.fr/resources/datagouv-rs-fixtures/shapes.csv',
    '2024-05-02 16:00:00+00',
    NULL,
    'd00000000000000000000006'
);

-- Fixture `resume` (10000000-0000-4000-8000-000000000008): 160,000 rows (four export windows), used
-- only by the resumption test, which adds rows to it to change the table between two runs.
-- Row i (= __id), i = 1..160000: n int = i, t string = 'r' || i.
CREATE TABLE public."7d3f2e1a0b9c8d7e6f5a4b3c2d1e0f9a" (
    __id serial PRIMARY KEY,
    n bigint,
    t varchar
);
INSERT INTO public."7d3f2e1a0b9c8d7e6f5a4b3c2d1e0f9a" (n, t)
SELECT i, 'r' || i FROM generate_series(1, 160000) AS i ORDER BY i;

INSERT INTO public.tables_index (parsing_table, csv_detective, resource_id, url, created_at, deleted_at, dataset_id)
VALUES (
    '7d3f2e1a0b9c8d7e6f5a4b3c2d1e0f9a',
    fixtures.csv_detective('7d3f2e1a0b9c8d7e6f5a4b3c2d1e0f9a', '[
        ["n", "int", "int"],
        ["t", "string", "string"]
    ]'),
    '10000000-0000-4000-8000-000000000008',
    'https://static.data.gouv.fr/resources/datagouv-rs-fixtures/resume.csv',
    '2024-05-02 17:00:00+00',
    NULL,
    'd00000000000000000000007'
);
