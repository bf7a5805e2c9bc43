-- Fixture `types` (resource 10000000-0000-4000-8000-000000000001): 30 rows, one column per python_type
-- the pipeline detects, with NULLs, unicode and awkward column names. Row i (= __id) is, for i = 1..30:
--   "nom complet"  string  NULL if i % 10 = 0, else NAMES[1 + (i - 1) % 9]
--   "élément"      string  NULL if i % 11 = 0, else ODD[1 + (i - 1) % 10]   (ODD[9] is the empty string)
--   "entier"       int     NULL if i % 7 = 0,  else (i * 37) % 101 - 50
--   "avg.views"    float   NULL if i % 8 = 0,  else i * 1.5 + 0.25            (exact in binary)
--   "a__b"         int     i % 5                                             (never NULL)
--   "actif"        bool    NULL if i % 9 = 0,  else i % 2 = 0
--   "date"         date    NULL if i % 6 = 0,  else 2024-01-01 + (i - 1) * 10 days
--   "horodatage"   datetime NULL if i % 12 = 0, else 2024-03-30 22:15:00 + (i - 1) * 7h30 (no time zone)
--   "données"      json    i % 4 = 0: NULL; 1: {"n": i, "tags": ["a", "b"]}; 2: [i, 2 * i]; 3: "texte i"
--   "code_commune" string  lpad(((i * 1789) % 99999)::text, 5, '0')           (leading zeros kept)
--   "say ""hi"""   string  NULL if i % 3 = 0,  else 'q' || i                   (double quote in the name)
-- NAMES and ODD are the arrays below.
CREATE TABLE public."709e61dba33cc3a0bc3da37203a2752f" (
    __id serial PRIMARY KEY,
    "nom complet" varchar,
    "élément" varchar,
    entier bigint,
    "avg.views" float,
    a__b bigint,
    actif boolean,
    date date,
    horodatage timestamp,
    "données" json,
    code_commune varchar,
    "say ""hi""" varchar
);

INSERT INTO public."709e61dba33cc3a0bc3da37203a2752f"
    ("nom complet", "élément", entier, "avg.views", a__b, actif, date, horodatage, "données", code_commune, "say ""hi""")
SELECT
    CASE WHEN i % 10 = 0 THEN NULL ELSE (ARRAY[
        'Élodie Dupré', 'François Lefèvre', 'Zoë 🚀 Moreau', '李小龙', 'Ørjan Æsir',
        'Ana-María O''Neil', 'Jean "Jojo" Martin', 'Ñandú Çelik', 'ÉMILE ZOLA'])[1 + (i - 1) % 9] END,
    CASE WHEN i % 11 = 0 THEN NULL ELSE (ARRAY[
        'a&b', 'x,y', 'k=v', 'v1.2.3', 'it''s "quoted"', '(parenthèses)', '50% + 1', 'plain', '',
        'C:\temp'])[1 + (i - 1) % 10] END,
    CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 37) % 101 - 50 END,
    CASE WHEN i % 8 = 0 THEN NULL ELSE i * 1.5 + 0.25 END,
    i % 5,
    CASE WHEN i % 9 = 0 THEN NULL ELSE i % 2 = 0 END,
    CASE WHEN i % 6 = 0 THEN NULL ELSE date '2024-01-01' + (i - 1) * 10 END,
    CASE WHEN i % 12 = 0 THEN NULL ELSE timestamp '2024-03-30 22:15:00' + (i - 1) * interval '7 hours 30 minutes' END,
    CASE i % 4
        WHEN 0 THEN NULL
        WHEN 1 THEN json_build_object('n', i, 'tags', json_build_array('a', 'b'))
        WHEN 2 THEN json_build_array(i, 2 * i)
        ELSE to_json('texte ' || i)
    END,
    lpad(((i * 1789) % 99999)::text, 5, '0'),
    CASE WHEN i % 3 = 0 THEN NULL ELSE 'q' || i END
FROM generate_series(1, 30) AS i
ORDER BY i;

INSERT INTO public.tables_index (parsing_table, csv_detective, resource_id, url, created_at, deleted_at, dataset_id)
VALUES (
    '709e61dba33cc3a0bc3da37203a2752f',
    fixtures.csv_detective('709e61dba33cc3a0bc3da37203a2752f', '[
        ["nom complet", "string", "string"],
        ["élément", "string", "string"],
        ["entier", "int", "int"],
        ["avg.views", "float", "float"],
        ["a__b", "int", "int"],
        ["actif", "bool", "booleen"],
        ["date", "date", "date"],
        ["horodatage", "datetime", "datetime_naive"],
        ["données", "json", "json"],
        ["code_commune", "string", "code_commune_insee"],
        ["say \"hi\"", "string", "string"]
    ]'),
    '10000000-0000-4000-8000-000000000001',
    'https://static.data.gouv.fr/resources/datagouv-rs-fixtures/types.csv',
    '2024-05-02 10:00:00+00',
    NULL,
    'd00000000000000000000001'
);
