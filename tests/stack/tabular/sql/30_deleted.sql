-- Fixture `deleted` (10000000-0000-4000-8000-000000000004): a tables_index row whose deleted_at is set.
-- Every endpoint of the resource answers 410 with a plain-text message naming the deletion time and the
-- dataset. Its table was dropped, as production does for deleted resources.
INSERT INTO public.tables_index (parsing_table, csv_detective, resource_id, url, created_at, deleted_at, dataset_id)
VALUES (
    '75d1bef84ad316aaf11eb1eb4f8bb176',
    '{"header": ["a"], "total_lines": 1, "columns": {"a": {"python_type": "string", "format": "string", "score": 1.0}}}',
    '10000000-0000-4000-8000-000000000004',
    'https://static.data.gouv.fr/resources/datagouv-rs-fixtures/deleted.csv',
    '2024-05-02 13:00:00+00',
    '2024-06-01 08:30:00+00',
    'd00000000000000000000003'
);
