//! Field masks that keep what an answer needs to decode.
//!
//! A flask-restx mask (`X-Fields: id,title,resources{id,url}`) drops every
//! field it does not name, the required ones too, and then the generated
//! type could not read the answer. [`complete`] adds to a user's mask the
//! required fields of the schema the operation answers, and of the nested
//! schemas the mask narrows with braces, as the generated `FIELD_MASKS`
//! tables list them.

use datagouv_runtime::mask::{MaskSchema, MaskTable};

/// The page fields the paginator reads: without `next_page` a masked list
/// would end after its first page, without `total`/`page_size` prefetch
/// could not plan.
const PAGE_FIELDS: [&str; 4] = ["next_page", "page", "page_size", "total"];

/// How deep required nested objects are followed (the schemas hold no
/// required cycle; this only bounds a future one).
const MAX_DEPTH: usize = 8;

/// One field of a mask, with its own mask when it has braces.
#[derive(Debug, PartialEq)]
struct Field {
    name: String,
    nested: Option<Vec<Field>>,
}

/// Parses `a,b{c,d{e}},*`; `None` when the braces do not balance.
fn parse(mask: &str) -> Option<Vec<Field>> {
    fn list(
        chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
        depth: usize,
    ) -> Option<Vec<Field>> {
        let mut fields = Vec::new();
        let mut name = String::new();
        while let Some(c) = chars.next() {
            match c {
                ',' => push(&mut fields, &mut name, None),
                '{' => {
                    let nested = list(chars, depth + 1)?;
                    push(&mut fields, &mut name, Some(nested));
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                }
                '}' if depth > 0 => {
                    push(&mut fields, &mut name, None);
                    return Some(fields);
                }
                '}' => return None,
                c => name.push(c),
            }
        }
        push(&mut fields, &mut name, None);
        (depth == 0).then_some(fields)
    }
    fn push(fields: &mut Vec<Field>, name: &mut String, nested: Option<Vec<Field>>) {
        let trimmed = name.trim();
        if !trimmed.is_empty() {
            fields.push(Field {
                name: trimmed.to_owned(),
                nested,
            });
        }
        name.clear();
    }
    list(&mut mask.chars().peekable(), 0)
}

fn render(fields: &[Field], out: &mut String) {
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&field.name);
        if let Some(nested) = &field.nested {
            out.push('{');
            render(nested, out);
            out.push('}');
        }
    }
}

/// Adds to `fields` what `schema` requires, recursively.
fn require(fields: &mut Vec<Field>, schema: &MaskSchema, table: &MaskTable, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let nested_schema = |name: &str| {
        schema
            .nested
            .iter()
            .find(|(field, _)| *field == name)
            .and_then(|(_, target)| table.schema(target))
    };
    let everything = fields.iter().any(|f| f.name == "*");
    for required in schema.required {
        if everything || fields.iter().any(|f| f.name == *required) {
            continue;
        }
        let nested = nested_schema(required).map(|inner| {
            let mut inner_fields = Vec::new();
            require(&mut inner_fields, inner, table, depth + 1);
            inner_fields
        });
        fields.push(Field {
            name: (*required).to_owned(),
            nested: nested.filter(|n| !n.is_empty()),
        });
    }
    for field in fields.iter_mut() {
        if let (Some(nested), Some(inner)) = (field.nested.as_mut(), nested_schema(&field.name)) {
            require(nested, inner, table, depth + 1);
        }
    }
}

/// The user's mask completed with what `operation`'s answer requires, and
/// for a list (`paged`) with the page fields pagination reads; the mask
/// unchanged when the operation or the mask is unknown to the table.
pub(crate) fn complete(mask: &str, operation: &str, table: &MaskTable, paged: bool) -> String {
    let (Some(schema), Some(mut fields)) = (table.answer(operation), parse(mask)) else {
        return mask.to_owned();
    };
    require(&mut fields, schema, table, 0);
    if paged && !fields.iter().any(|f| f.name == "*") {
        for name in PAGE_FIELDS {
            if !fields.iter().any(|f| f.name == name) {
                fields.push(Field {
                    name: name.to_owned(),
                    nested: None,
                });
            }
        }
    }
    let mut out = String::with_capacity(mask.len() + 32);
    render(&fields, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: MaskTable = MaskTable {
        schemas: &[
            MaskSchema {
                name: "Page",
                required: &["data", "page"],
                nested: &[("data", "Dataset")],
            },
            MaskSchema {
                name: "Dataset",
                required: &["id", "title"],
                nested: &[("organization", "Org"), ("resources", "Resource")],
            },
            MaskSchema {
                name: "Org",
                required: &["id"],
                nested: &[],
            },
            MaskSchema {
                name: "Resource",
                required: &["id", "url"],
                nested: &[],
            },
        ],
        answers: &[("list", "Page"), ("get", "Dataset")],
    };

    #[test]
    fn required_fields_are_added_at_every_level_the_mask_narrows() {
        assert_eq!(complete("title", "get", &TABLE, false), "title,id");
        assert_eq!(
            complete("slug,organization{name},resources", "get", &TABLE, false),
            "slug,organization{name,id},resources,id,title"
        );
        assert_eq!(
            complete("data{resources{format}},total", "list", &TABLE, false),
            "data{resources{format,id,url},id,title},total,page"
        );
        assert_eq!(
            complete("total", "list", &TABLE, false),
            "total,data{id,title},page"
        );
        assert_eq!(complete("*", "get", &TABLE, false), "*");
    }

    #[test]
    fn lists_keep_the_fields_pagination_reads() {
        assert_eq!(
            complete("data{id},total", "list", &TABLE, true),
            "data{id,title},total,page,next_page,page_size"
        );
        assert_eq!(complete("*", "list", &TABLE, true), "*");
    }

    #[test]
    fn unknown_operations_and_unbalanced_masks_are_left_alone() {
        assert_eq!(complete("title", "other", &TABLE, false), "title");
        assert_eq!(complete("a{b", "get", &TABLE, false), "a{b");
        assert_eq!(complete("a}b", "get", &TABLE, false), "a}b");
        assert_eq!(parse(" a , b { c } "), parse("a,b{c}"));
    }
}
