"""Run a real udata (data.gouv.fr Main API) on loopback, backed by mongomock.

Run it with the python of the udata venv (see stack.sh):

    python udata_launcher.py --port PORT --state-dir DIR --env-out FILE

The data lives inside this process (mongomock), so everything is seeded here before
serving: udata's bundled real-world fixtures, a small license list (through udata's own
`licenses` command), a few geozones (through `udata spatial load`), an admin user and a
non-admin user with plaintext API tokens, an organization the non-admin user administers,
one dataset with a spatial and temporal coverage (the fixtures carry none), the objects the
fixtures lack (see `seed_extras`: a contact point, a report, a pending transfer, a topic, a
visualization, a harvest source with a finished job, scheduled jobs, notifications), the tag
counts (as the `count-tags` job makes them) and the CSV catalogue exports (the `export-csv` job).

mongomock is patched to follow dotted paths into DBRefs as MongoDB does (`patch_mongomock`).

The keys are written to FILE (lines KEY=value) once everything is seeded, and
`UDATA_READY http://127.0.0.1:PORT` is printed just before serving.
"""

import argparse
import json
import logging
import os
import sys
import time


def write_settings(path, port, state_dir):
    fs_root = os.path.join(state_dir, "fs")
    os.makedirs(fs_root, exist_ok=True)
    settings = f'''
import mongomock

SECRET_KEY = "datagouv-rs-local-stack-secret"
API_TOKEN_SECRET = "datagouv-rs-local-stack-token-secret"
SECURITY_TOTP_SECRETS = {{"1": "datagouv-rs-local-stack-totp"}}
MONGODB_HOST = "mongodb://localhost:27017/udata"
MONGODB_SETTINGS = {{
    "host": "mongodb://localhost:27017/udata",
    "mongo_client_class": mongomock.MongoClient,
}}
CACHE_TYPE = "flask_caching.backends.NullCache"
CACHE_NO_NULL_WARNING = True
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
SERVER_NAME = "127.0.0.1:{port}"
PREFERRED_URL_SCHEME = "http"
SEND_MAIL = False
SECURITY_EMAIL_VALIDATOR_ARGS = {{"check_deliverability": False}}
URLS_ALLOW_LOCAL = True
URLS_RESOLVE_HOSTNAME = False
AUTO_INDEX = False
ELASTICSEARCH_URL = None
SEARCH_SERVICE_API_URL = None
METRICS_API = None
SENTRY_DSN = None
# Production sets the front-end's base URL, which fills `page`/`self_web_url` (null without it).
# Nothing serves these pages here: they are only well-formed links.
CDATA_BASE_URL = "http://127.0.0.1:{port}"
SCHEMA_CATALOG_URL = None
WTF_CSRF_ENABLED = False
DEBUG = False
FS_ROOT = {fs_root!r}
FS_SERVE = True
FS_IMAGES_OPTIMIZE = False
SPAM_WORDS = []
SPAM_ALLOWED_LANGS = []
# Bare udata enables no harvest backend; data.gouv.fr enables them all. Needed to save the
# seeded harvest source (its backend must be enabled), and fills /harvest/backends/.
HARVESTER_BACKENDS = ["*"]
'''
    with open(path, "w") as f:
        f.write(settings)


# The licenses data.gouv.fr offers, in the CKAN license-group format `udata licenses` reads:
# (id, title, url, okd_compliant); the "other-*" ones and "notspecified" are generic.
LICENSES = [
    ("notspecified", "License Not Specified", "", False),
    ("lov2", "Licence Ouverte / Open Licence version 2.0",
     "https://www.etalab.gouv.fr/licence-ouverte-open-licence", True),
    ("fr-lo", "Licence Ouverte / Open Licence",
     "https://www.etalab.gouv.fr/wp-content/uploads/2014/05/Licence_Ouverte.pdf", True),
    ("odc-odbl", "Open Data Commons Open Database License (ODbL)",
     "https://opendatacommons.org/licenses/odbl/summary/", True),
    ("odc-by", "Open Data Commons Attribution License",
     "https://opendatacommons.org/licenses/by/summary/", True),
    ("odc-pddl", "Open Data Commons Public Domain Dedication and Licence (PDDL)",
     "https://opendatacommons.org/licenses/pddl/summary/", True),
    ("cc-by", "Creative Commons Attribution",
     "https://creativecommons.org/licenses/by/4.0/", True),
    ("cc-by-sa", "Creative Commons Attribution Share-Alike",
     "https://creativecommons.org/licenses/by-sa/4.0/", True),
    ("cc-zero", "Creative Commons CCZero",
     "https://creativecommons.org/publicdomain/zero/1.0/", True),
    ("other-at", "Other (Attribution)", "", False),
    ("other-open", "Other (Open)", "", False),
    ("other-pd", "Other (Public Domain)", "", False),
]

# A few real geozones (ids in data.gouv.fr's geoid format) and their levels, in the format
# `udata spatial load` reads.
GEOLEVELS = [
    {"id": "country", "label": "Country", "admin_level": 10},
    {"id": "fr:region", "label": "French region", "admin_level": 40},
    {"id": "fr:departement", "label": "French county", "admin_level": 60},
    {"id": "fr:commune", "label": "French town", "admin_level": 80},
]
GEOZONES = [
    ("country:fr", "country", "fr", "France", []),
    ("fr:region:11", "fr:region", "11", "Île-de-France", ["country:fr"]),
    ("fr:region:53", "fr:region", "53", "Bretagne", ["country:fr"]),
    ("fr:departement:75", "fr:departement", "75", "Paris", ["country:fr", "fr:region:11"]),
    ("fr:departement:29", "fr:departement", "29", "Finistère", ["country:fr", "fr:region:53"]),
    ("fr:commune:75056", "fr:commune", "75056", "Paris",
     ["country:fr", "fr:region:11", "fr:departement:75"]),
    ("fr:commune:29019", "fr:commune", "29019", "Brest",
     ["country:fr", "fr:region:53", "fr:departement:29"]),
]


def patch_mongomock():
    """Let mongomock follow a dotted path into a DBRef, as MongoDB does.

    udata looks generic references up by `FIELD._ref.$id` (`generic_in`: the transfer list's
    `recipient`/`subject`, the discussion list's `for`); mongomock only walks dicts and lists,
    so those filters matched nothing. A DBRef is walked as its document (`$ref`, `$id`,
    `$db`); a path ending on it still compares the DBRef itself.
    """
    from bson import DBRef
    from mongomock import filtering

    walk = filtering.iter_key_candidates

    def iter_key_candidates(key, doc):
        if key and isinstance(doc, DBRef):
            doc = doc.as_doc()
        return walk(key, doc)

    # The module's own recursion and its other callers look the name up in the module.
    filtering.iter_key_candidates = iter_key_candidates


def _invoke(command, **params):
    """Run a udata click command in-process (its callback needs a click context)."""
    import click

    with click.Context(command) as ctx:
        return ctx.invoke(command, **params)


def seed(app, state_dir, log):
    from datetime import datetime

    from udata.commands.fixtures import DEFAULT_FIXTURE_FILE, import_fixtures
    from udata.core.api_token.models import ApiToken
    from udata.core.dataset.commands import licenses
    from udata.core.spatial.commands import load as load_spatial
    from udata.models import (
        Dataset,
        GeoZone,
        License,
        Member,
        Organization,
        SpatialCoverage,
        datastore,
    )
    from udata.core.dataset.models import Checksum, Resource

    t0 = time.monotonic()
    seed_dir = os.path.join(state_dir, "seed")
    os.makedirs(seed_dir, exist_ok=True)

    # Licenses, through udata's own command (it reads a local file as well as a URL).
    lic_file = os.path.join(seed_dir, "licenses.json")
    with open(lic_file, "w") as f:
        json.dump(
            [
                {
                    "id": lid,
                    "title": title,
                    "url": url,
                    "maintainer": "",
                    "active": True,
                    "is_okd_compliant": okd,
                    "is_generic": not okd,
                    "domain_data": okd,
                }
                for lid, title, url, okd in LICENSES
            ],
            f,
        )
    _invoke(licenses, source=lic_file)

    # Geozones and levels, through `udata spatial load`.
    zones_file = os.path.join(seed_dir, "zones.json")
    levels_file = os.path.join(seed_dir, "levels.json")
    with open(zones_file, "w") as f:
        json.dump(
            [
                {
                    "_id": zid,
                    "level": level,
                    "codeINSEE": code,
                    "nom": name,
                    "uri": f"http://id.insee.fr/geo/{level.split(':')[-1]}/{code}",
                    "ancestors": ancestors,
                }
                for zid, level, code, name, ancestors in GEOZONES
            ],
            f,
        )
    with open(levels_file, "w") as f:
        json.dump(GEOLEVELS, f)
    _invoke(load_spatial, geozones_file=zones_file, levels_file=levels_file, drop=False)

    # udata's bundled real-world fixtures (15 datasets, reuses, orgs, discussions, ...).
    t1 = time.monotonic()
    _invoke(import_fixtures, source=DEFAULT_FIXTURE_FILE)
    log.info("fixtures imported in %.1fs", time.monotonic() - t1)

    # Users and tokens.
    admin_role = datastore.find_or_create_role("admin")
    admin = datastore.create_user(
        email="stack-admin@example.com",
        first_name="Stack",
        last_name="Admin",
        active=True,
        confirmed_at=datetime.utcnow(),
        roles=[admin_role],
    )
    user = datastore.create_user(
        email="stack-user@example.com",
        first_name="Stack",
        last_name="User",
        active=True,
        confirmed_at=datetime.utcnow(),
    )
    admin.save()
    user.save()
    _, admin_key = ApiToken.generate(admin, name="datagouv-rs stack admin")
    _, user_key = ApiToken.generate(user, name="datagouv-rs stack user")

    # An organization the non-admin user administers (for write tests as an org member).
    org = Organization.objects.create(
        name="Organisation de test datagouv-rs",
        description="Organisation créée par la pile de test locale.",
        members=[Member(user=user, role="admin")],
    )

    # One dataset with a spatial and a temporal coverage, owned by the non-admin user.
    from udata.mongo.datetime_fields import DateRange

    sample = Dataset.objects.create(
        title="Jeu de données couvert (pile de test)",
        description="Jeu de données avec couverture spatiale et temporelle.",
        owner=user,
        license=License.objects(id="lov2").first(),
        frequency="monthly",
        tags=["stack-test", "couverture"],
        spatial=SpatialCoverage(
            zones=[GeoZone.objects(id="fr:departement:75").first(),
                   GeoZone.objects(id="fr:commune:75056").first()],
            granularity="fr:commune",
        ),
        temporal_coverage=DateRange(start=datetime(2020, 1, 1).date(),
                                       end=datetime(2023, 12, 31).date()),
    )
    sample.add_resource(
        Resource(
            title="donnees.csv",
            url="https://example.org/stack-test/donnees.csv",
            filetype="remote",
            format="csv",
            mime="text/csv",
            filesize=1234,
            checksum=Checksum(type="sha1", value="da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        )
    )
    extras = seed_extras(app, admin, user, org, sample, log)

    # Tags: production fills this collection with the hourly `count-tags` job (a Mongo map-reduce,
    # which mongomock lacks); the same counts, computed here. Feeds /tags/suggest/, /site/tags.csv.
    from collections import Counter

    from udata.models import Reuse, Tag

    counts = {"datasets": Counter(), "reuses": Counter()}
    for key, model in (("datasets", Dataset), ("reuses", Reuse)):
        for obj in model.objects(tags__exists=True).only("tags"):
            counts[key].update(obj.tags or [])
    for name in set(counts["datasets"]) | set(counts["reuses"]):
        tag = Tag(name=name, counts={k: c[name] for k, c in counts.items() if c[name]})
        tag.save()

    # CSV catalogue exports: production's /site/{datasets,resources,...}.csv answer a redirect to
    # files that the daily `export-csv` job attaches to a catalogue dataset. Same here.
    from udata.core.dataset.tasks import export_csv

    catalog = Dataset.objects.create(
        title="Catalogue des données (pile de test)",
        description="Exports CSV du catalogue, produits par la tâche export-csv.",
        owner=admin,
        license=License.objects(id="lov2").first(),
    )
    app.config["EXPORT_CSV_DATASET_ID"] = str(catalog.id)
    export_csv()

    log.info("seeded in %.1fs", time.monotonic() - t0)
    return {
        "DATAGOUV_TEST_ADMIN_KEY": admin_key,
        "DATAGOUV_TEST_ADMIN_ID": str(admin.id),
        "DATAGOUV_TEST_ADMIN_EMAIL": admin.email,
        "DATAGOUV_TEST_USER_KEY": user_key,
        "DATAGOUV_TEST_USER_ID": str(user.id),
        "DATAGOUV_TEST_USER_EMAIL": user.email,
        "DATAGOUV_TEST_USER_ORG_ID": str(org.id),
        "DATAGOUV_TEST_SPATIAL_DATASET_ID": str(sample.id),
        "DATAGOUV_TEST_CATALOG_DATASET_ID": str(catalog.id),
        **extras,
    }


def seed_extras(app, admin, user, org, sample, log):
    """Objects udata's fixtures lack, so that their endpoints answer with real content.

    Made as model objects, the way udata's own code makes them (signals included, so the
    notifications they trigger exist too), with fixed contents and dates; nothing touches
    the network and no harvest runs. Returns the env keys.
    """
    from datetime import datetime, timezone

    from udata.core.contact_point.models import ContactPoint
    from udata.core.dataset.models import HarvestDatasetMetadata
    from udata.core.jobs.models import PeriodicTask
    from udata.core.reports.models import Report
    from udata.core.topic.models import Topic, TopicElement
    from udata.core.visualizations.models import Chart, DataSeries, XAxis, YAxis
    from udata.features.notifications.models import Notification
    from udata.features.transfer.models import Transfer
    from udata.harvest import actions as harvest_actions
    from udata.harvest import signals as harvest_signals
    from udata.harvest.models import (
        VALIDATION_ACCEPTED,
        HarvestItem,
        HarvestJob,
        HarvestLog,
        HarvestSource,
    )
    from udata.models import Dataset, License, Reuse

    t0 = time.monotonic()
    lov2 = License.objects(id="lov2").first()
    seeded = set()

    # A contact point of the organization, on a dataset of that organization: a dataset list
    # exposes its id, /organizations/{org}/contacts/ lists it.
    contact = ContactPoint.objects.create(
        name="Service des données (pile de test)",
        email="donnees@example.com",
        role="contact",
        organization=org,
    )
    org_dataset = Dataset.objects.create(
        title="Jeu de données de l'organisation (pile de test)",
        description="Jeu de données publié par l'organisation de test, avec un point de contact.",
        organization=org,
        license=lov2,
        frequency="annual",
        tags=["stack-test"],
        contact_points=[contact],
    )
    seeded.add(org_dataset.id)

    # A pending transfer of a dataset of the non-admin user to the organization it administers
    # (so the user key can answer it). Its creation notifies the organization's admins.
    to_transfer = Dataset.objects.create(
        title="Jeu de données à transférer (pile de test)",
        description="Jeu de données dont le transfert vers l'organisation de test attend réponse.",
        owner=user,
        license=lov2,
        tags=["stack-test"],
    )
    seeded.add(to_transfer.id)
    transfer = Transfer.objects.create(
        user=user,
        owner=user,
        recipient=org,
        subject=to_transfer,
        comment="Transfert demandé par la pile de test.",
    )

    # A topic of the organization, with a dataset and a reuse of the fixtures.
    first_reuse = Reuse.objects(deleted=None, private__ne=True).order_by("slug").first()
    topic = Topic.objects.create(
        name="Thématique de test (pile de test)",
        description="Thématique regroupant un jeu de données et une réutilisation.",
        organization=org,
        tags=["stack-test"],
        private=False,
    )
    TopicElement(topic=topic, element=sample, title="Jeu de données couvert",
                 description="Le jeu de données avec couverture spatiale.").save()
    TopicElement(topic=topic, element=first_reuse).save()

    # A visualization (chart) of the sample dataset's resource, owned by the non-admin user.
    chart = Chart.objects.create(
        title="Visualisation de test (pile de test)",
        description="Histogramme des valeurs par année de donnees.csv.",
        owner=user,
        x_axis=XAxis(column_x="annee", type="discrete"),
        y_axis=YAxis(label="Valeur", unit="€"),
        series=[DataSeries(type="histogram", column_y="valeur", aggregate_y="sum",
                           resource_id=sample.resources[0].id)],
    )

    # A harvest source of the organization (DCAT, on a local URL nothing serves), validated by
    # the admin and scheduled the way udata's actions do it, minus the harvest they launch;
    # then one finished job with a harvested dataset and a skipped item.
    # Creating it notifies the sysadmins (pending validation), validating it marks that
    # notification handled and notifies the organization's admins.
    base = f"http://{app.config['SERVER_NAME']}"
    source = HarvestSource.objects.create(
        name="Moissonneur de test (pile de test)",
        description="Source DCAT locale ; aucun moissonnage ne tourne.",
        url=f"{base}/stack-test/harvest/catalog.rdf",
        backend="dcat",
        organization=org,
    )
    source.validation.state = VALIDATION_ACCEPTED
    source.validation.by = admin
    source.validation.on = datetime(2024, 1, 2, 9, 0, tzinfo=timezone.utc)
    source.validation.comment = "Source validée par la pile de test."
    source.save()
    harvest_signals.harvest_source_validated.send(source)
    harvest_actions.schedule(source, cron="0 3 * * *")

    started = datetime(2024, 1, 3, 3, 0, tzinfo=timezone.utc)
    ended = datetime(2024, 1, 3, 3, 1, tzinfo=timezone.utc)
    remote = f"{base}/stack-test/harvest/datasets"
    harvested = Dataset.objects.create(
        title="Jeu de données moissonné (pile de test)",
        description="Jeu de données créé par le moissonneur de test.",
        organization=org,
        license=lov2,
        tags=["stack-test"],
        harvest=HarvestDatasetMetadata(
            backend="DCAT",
            domain=source.domain,
            source_id=str(source.id),
            source_url=source.url,
            remote_id="stack-test-1",
            remote_url=f"{remote}/1",
            uri=f"{remote}/1",
            created_at=started,
            last_update=ended,
        ),
    )
    seeded.add(harvested.id)
    job = HarvestJob(
        source=source,
        status="done",
        created=started,
        started=started,
        ended=ended,
        items=[
            HarvestItem(remote_id="stack-test-1", remote_url=f"{remote}/1", dataset=harvested,
                        status="done", created=started, started=started, ended=ended,
                        logs=[HarvestLog(level="info", message="Jeu de données créé.")]),
            HarvestItem(remote_id="stack-test-2", remote_url=f"{remote}/2", status="skipped",
                        created=started, started=started, ended=ended,
                        logs=[HarvestLog(level="info",
                                         message="Ignoré : ce n'est pas un jeu de données.")]),
        ],
    )
    job.save()

    # A scheduled job of the workers (celery beat), on an interval; the harvest schedule above
    # is a second one, on a crontab.
    worker_job = PeriodicTask.objects.create(
        name="Comptage des tags (pile de test)",
        description="Recompte les tags toutes les heures.",
        task="count-tags",
        interval=PeriodicTask.Interval(every=1, period="hours"),
        enabled=True,
    )

    # A report about a fixture dataset, by the non-admin user.
    reported = Dataset.objects(id__nin=list(seeded) + [sample.id], deleted=None,
                               private__ne=True).order_by("slug").first()
    report = Report.objects.create(
        subject=reported,
        reason="others",
        message="Signalement de test : lien mort dans la description.",
        by=user,
    )

    admin_notification = Notification.objects(user=admin).order_by("-created_at").first()
    log.info("extras seeded in %.2fs", time.monotonic() - t0)
    keys = {
        "DATAGOUV_TEST_CONTACT_ID": str(contact.id),
        "DATAGOUV_TEST_CONTACT_DATASET_ID": str(org_dataset.id),
        "DATAGOUV_TEST_REPORT_ID": str(report.id),
        "DATAGOUV_TEST_TRANSFER_ID": str(transfer.id),
        "DATAGOUV_TEST_TRANSFER_DATASET_ID": str(to_transfer.id),
        "DATAGOUV_TEST_TOPIC_ID": str(topic.id),
        "DATAGOUV_TEST_VISUALIZATION_ID": str(chart.id),
        "DATAGOUV_TEST_HARVEST_SOURCE_ID": str(source.id),
        "DATAGOUV_TEST_HARVEST_JOB_ID": str(job.id),
        "DATAGOUV_TEST_HARVESTED_DATASET_ID": str(harvested.id),
        "DATAGOUV_TEST_WORKER_JOB_ID": str(worker_job.id),
    }
    if admin_notification is not None:
        keys["DATAGOUV_TEST_ADMIN_NOTIFICATION_ID"] = str(admin_notification.id)
    return keys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--env-out", required=True)
    args = parser.parse_args()

    t0 = time.monotonic()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("udata_launcher")

    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    settings_path = os.path.join(state_dir, "udata.cfg")
    write_settings(settings_path, args.port, state_dir)
    os.environ["UDATA_SETTINGS"] = settings_path

    patch_mongomock()
    from udata.app import create_app, standalone

    app = standalone(create_app())
    with app.app_context():
        keys = seed(app, state_dir, log)

    keys["DATAGOUV_TEST_UDATA_SETTINGS"] = settings_path
    tmp = args.env_out + ".tmp"
    with open(tmp, "w") as f:
        for k, v in keys.items():
            f.write(f"{k}={v}\n")
    os.replace(tmp, args.env_out)

    from werkzeug.serving import run_simple

    # Werkzeug logs every request at INFO: keep it (the log is per-run).
    print(f"UDATA_READY http://127.0.0.1:{args.port} (setup {time.monotonic() - t0:.1f}s)",
          flush=True)
    run_simple("127.0.0.1", args.port, app, threaded=True, use_reloader=False,
               use_debugger=False)


if __name__ == "__main__":
    main()
