//! The large Tabular resource the bench server exports: rows shaped like a
//! real land-value table (commune code and name, date, kind of sale, price,
//! address, surface, rooms, coordinates), generated on the fly and the same
//! on every run. Row `i` is its `__id` followed by one of [`TEMPLATES`]
//! precomputed tails (chosen by `i`), so the server writes rows at memory
//! speed and is never what a client waits for.

use std::fmt::Write as _;

/// How many distinct row tails there are (a prime, so neighbouring rows differ).
pub const TEMPLATES: usize = 4099;

/// The CSV header, as api-tabular writes it (`__id` first).
pub const HEADER: &str = "__id,code_commune,nom_commune,date_mutation,nature_mutation,valeur_fonciere,adresse,surface_reelle_bati,nombre_pieces,longitude,latitude\n";

/// The columns after `__id` (the profile's header).
pub const COLUMNS: &[&str] = &[
    "code_commune",
    "nom_commune",
    "date_mutation",
    "nature_mutation",
    "valeur_fonciere",
    "adresse",
    "surface_reelle_bati",
    "nombre_pieces",
    "longitude",
    "latitude",
];

/// csv_detective's `python_type` and `format` of each of [`COLUMNS`], for
/// the profile (what a Parquet export types its columns from).
pub const COLUMN_TYPES: &[(&str, &str)] = &[
    ("string", "code_commune_insee"),
    ("string", "commune"),
    ("date", "date"),
    ("string", "string"),
    ("float", "float"),
    ("string", "adresse"),
    ("int", "int"),
    ("int", "int"),
    ("float", "longitude_wgs"),
    ("float", "latitude_wgs"),
];

const COMMUNES: &[(&str, &str, f64, f64)] = &[
    ("75056", "Paris", 2.3522, 48.8566),
    ("13055", "Marseille", 5.3698, 43.2965),
    ("69123", "Lyon", 4.8357, 45.7640),
    ("31555", "Toulouse", 1.4442, 43.6047),
    ("06088", "Nice", 7.2620, 43.7102),
    ("44109", "Nantes", -1.5536, 47.2184),
    ("67482", "Strasbourg", 7.7521, 48.5734),
    ("34172", "Montpellier", 3.8767, 43.6108),
    ("33063", "Bordeaux", -0.5792, 44.8378),
    ("59350", "Lille", 3.0573, 50.6292),
    ("35238", "Rennes", -1.6778, 48.1173),
    ("51454", "Reims", 4.0317, 49.2583),
    ("42218", "Saint-Étienne", 4.3872, 45.4397),
    ("83137", "Toulon", 5.9280, 43.1242),
    ("76351", "Le Havre", 0.1079, 49.4944),
    ("38185", "Grenoble", 5.7245, 45.1885),
    ("21231", "Dijon", 5.0415, 47.3220),
    ("49007", "Angers", -0.5632, 47.4784),
    ("30189", "Nîmes", 4.3601, 43.8367),
    ("69266", "Villeurbanne", 4.8800, 45.7667),
];

const NATURES: &[&str] = &[
    "Vente",
    "Vente en l'état futur d'achèvement",
    "Echange",
    "Adjudication",
    "Vente terrain à bâtir",
];

const STREETS: &[&str] = &[
    "rue de la République",
    "avenue Jean Jaurès",
    "boulevard Victor Hugo",
    "place de la Mairie",
    "chemin des Vignes",
    "allée des Tilleuls",
    "rue du Général de Gaulle",
    "impasse des Lilas",
];

/// The generated table.
pub struct Table {
    rows: u64,
    csv_tails: Vec<Vec<u8>>,
    json_tails: Vec<Vec<u8>>,
}

/// SplitMix64: a deterministic stream of numbers from a seed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Table {
    /// A table of `rows` rows, `__id` 1 to `rows`.
    pub fn new(rows: u64) -> Table {
        let mut csv_tails = Vec::with_capacity(TEMPLATES);
        let mut json_tails = Vec::with_capacity(TEMPLATES);
        for k in 0..TEMPLATES as u64 {
            let r = mix(k);
            let (code, name, lon, lat) = COMMUNES[(r % COMMUNES.len() as u64) as usize];
            let nature = NATURES[((r >> 8) % NATURES.len() as u64) as usize];
            let street = STREETS[((r >> 16) % STREETS.len() as u64) as usize];
            let number = 1 + (r >> 24) % 180;
            let date = format!(
                "{}-{:02}-{:02}",
                2014 + (r >> 32) % 11,
                1 + (r >> 36) % 12,
                1 + (r >> 40) % 28
            );
            let surface = 12 + (r >> 44) % 240;
            let rooms = 1 + surface / 25;
            let price = (surface as f64) * (1800.0 + ((r >> 20) % 9000) as f64) / 1.0;
            let jitter = ((r >> 48) % 20_000) as f64 / 100_000.0 - 0.1;
            let (lon, lat) = (lon + jitter, lat - jitter / 2.0);
            let address = format!("{number} {street}");
            let mut csv = String::new();
            let _ = writeln!(
                csv,
                ",\"{code}\",\"{name}\",{date},\"{nature}\",{price:.2},\"{address}\",{surface},{rooms},{lon:.6},{lat:.6}"
            );
            let json = format!(
                ",\"code_commune\":{},\"nom_commune\":{},\"date_mutation\":\"{date}\",\"nature_mutation\":{},\
                 \"valeur_fonciere\":{price:.2},\"adresse\":{},\"surface_reelle_bati\":{surface},\"nombre_pieces\":{rooms},\
                 \"longitude\":{lon:.6},\"latitude\":{lat:.6}}}",
                serde_json::Value::from(code),
                serde_json::Value::from(name),
                serde_json::Value::from(nature),
                serde_json::Value::from(address),
            );
            csv_tails.push(csv.into_bytes());
            json_tails.push(json.into_bytes());
        }
        Table {
            rows,
            csv_tails,
            json_tails,
        }
    }

    /// How many rows (the last `__id`).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn tail(id: u64) -> usize {
        (id % TEMPLATES as u64) as usize
    }

    /// Appends CSV rows from `from` up to `to` (inclusive) until `buf` holds
    /// at least `limit` bytes; returns the next id to write.
    pub fn write_csv(&self, from: u64, to: u64, buf: &mut Vec<u8>, limit: usize) -> u64 {
        let mut id = from;
        let mut digits = itoa::Buffer::new();
        while id <= to && buf.len() < limit {
            buf.extend_from_slice(digits.format(id).as_bytes());
            buf.extend_from_slice(&self.csv_tails[Self::tail(id)]);
            id += 1;
        }
        id
    }

    /// Appends row `id` as a JSON object.
    pub fn write_json(&self, id: u64, buf: &mut Vec<u8>) {
        buf.extend_from_slice(b"{\"__id\":");
        buf.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
        buf.extend_from_slice(&self.json_tails[Self::tail(id)]);
    }

    /// The exact size of the CSV export of rows `from..=to` with its header.
    pub fn csv_bytes(&self, from: u64, to: u64) -> u64 {
        let mut total = HEADER.len() as u64;
        if from > to {
            return total;
        }
        // Tails: whole cycles of TEMPLATES, then the rest one by one.
        let count = to - from + 1;
        let cycle: u64 = self.csv_tails.iter().map(|t| t.len() as u64).sum();
        total += count / TEMPLATES as u64 * cycle;
        for id in from..from + count % TEMPLATES as u64 {
            total += self.csv_tails[Self::tail(id)].len() as u64;
        }
        // Digits of the ids.
        let mut start = from;
        while start <= to {
            let digits = start.checked_ilog10().unwrap_or(0) + 1;
            let end = 10u64.saturating_pow(digits).saturating_sub(1).min(to);
            total += (end - start + 1) * u64::from(digits);
            start = end + 1;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_deterministic_and_sized_exactly() {
        let table = Table::new(30_000);
        let mut buf = HEADER.as_bytes().to_vec();
        let next = table.write_csv(1, 30_000, &mut buf, usize::MAX);
        assert_eq!(next, 30_001);
        assert_eq!(buf.len() as u64, table.csv_bytes(1, 30_000));
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 30_001);
        assert!(
            text.lines().nth(1).unwrap().starts_with("1,\""),
            "{text:.300}"
        );
        let mut again = HEADER.as_bytes().to_vec();
        table.write_csv(1, 30_000, &mut again, usize::MAX);
        assert_eq!(text.as_bytes(), again.as_slice());
    }

    #[test]
    fn json_rows_parse() {
        let table = Table::new(10);
        let mut buf = Vec::new();
        table.write_json(7, &mut buf);
        let row: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(row["__id"], 7);
        assert_eq!(row.as_object().unwrap().len(), COLUMNS.len() + 1);
        assert_eq!(COLUMN_TYPES.len(), COLUMNS.len());
        // The profile's types hold for the generated values.
        let object = row.as_object().unwrap();
        for (name, (python_type, _)) in COLUMNS.iter().zip(COLUMN_TYPES) {
            let value = &object[*name];
            let fits = match *python_type {
                "int" => value.is_u64(),
                "float" => value.is_f64(),
                _ => value.is_string(),
            };
            assert!(fits, "{name}: {value} is not a {python_type}");
        }
    }
}
