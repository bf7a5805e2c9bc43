//! What field masks (flask-restx `X-Fields`) must keep for answers to decode:
//! the required fields of every response schema and the schemas nested in
//! them, as the code generation reads them from the spec.

/// One response schema as a field mask sees it.
#[derive(Clone, Copy, Debug)]
pub struct MaskSchema {
    /// The component name.
    pub name: &'static str,
    /// The fields every answer must carry (required in the generated type).
    pub required: &'static [&'static str],
    /// Fields holding an object (or a list of objects) of another schema.
    pub nested: &'static [(&'static str, &'static str)],
}

/// The mask facts of one API: its response schemas and which schema each
/// operation answers.
#[derive(Clone, Copy, Debug)]
pub struct MaskTable {
    /// Every response schema with required or nested fields.
    pub schemas: &'static [MaskSchema],
    /// `(operation id, schema)` for every operation answering a schema.
    pub answers: &'static [(&'static str, &'static str)],
}

impl MaskTable {
    /// The schema of that name.
    pub fn schema(&self, name: &str) -> Option<&MaskSchema> {
        self.schemas.iter().find(|schema| schema.name == name)
    }

    /// The schema an operation answers.
    pub fn answer(&self, operation: &str) -> Option<&MaskSchema> {
        let (_, name) = self.answers.iter().find(|(id, _)| *id == operation)?;
        self.schema(name)
    }
}
