//! The OpenAPI schema of a source's `options`: every key a file or database source reads,
//! with the type it reads it as. Which keys apply depends on the source's kind and URL; the
//! connector that parses them says so at registration.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};

fn typed(kind: Type, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(kind)
        .description(Some(description))
}

/// The string, flag and list options read null as "not given".
fn or_null(kind: Type, description: &str) -> ObjectBuilder {
    typed(kind.clone(), description).schema_type(SchemaType::from_iter([kind, Type::Null]))
}

fn strings(description: &str) -> RefOr<Schema> {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
        .into()
}

fn whole(max: u64, description: &str) -> RefOr<Schema> {
    typed(Type::Integer, description)
        .minimum(Some(1))
        .maximum(Some(max))
        .into()
}

/// The keys and types of [`crate::spec::KNOWN_OPTIONS`] and [`crate::database::spec::OPTIONS`].
pub fn source_options_schema() -> ObjectBuilder {
    let text = |d: &str| RefOr::from(or_null(Type::String, d));
    let flag = |d: &str| RefOr::from(or_null(Type::Boolean, d));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "connection options, never secrets; an option that does not apply to the source's kind is refused",
        ))
        .property("partition_columns", strings("file sources: hive-style partition columns of a folder URL"))
        .property("files", strings("file sources: more file URLs on the same host as url"))
        .property("file_extension", text("file sources: only files with this extension are read"))
        .property("has_header", flag("CSV sources: whether the first line names the columns (default true)"))
        .property(
            "delimiter",
            or_null(Type::String, "CSV sources: one ASCII character (default ,)")
                .pattern(Some("^[\\x00-\\x7f]$"))
                .min_length(Some(1))
                .max_length(Some(1)),
        )
        .property("endpoint", text("s3 sources: an http:// or https:// endpoint"))
        .property("region", text("s3 sources"))
        .property("access_key_id", text("s3 sources; the secret key is the source's secret"))
        .property("allow_http", flag("s3 sources: allow a plain-HTTP endpoint"))
        .property("skip_signature", flag("s3 sources: send unsigned requests"))
        .property(
            "column_types",
            or_null(Type::Object, "CSV sources: column → Arrow type name (e.g. Utf8), overriding inference")
                .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String))),
        )
        .property(
            "sslmode",
            typed(Type::String, "database sources: TLS to the server (default prefer)")
                .enum_values(Some(["disable", "disabled", "prefer", "preferred", "require", "required"])),
        )
        .property("pool_size", whole(64, "database sources: connections in the pool"))
        .property("max_concurrent_queries", whole(64, "database sources: statements at once"))
        .property("connect_timeout_ms", whole(300_000, "database sources"))
        .property("query_timeout_ms", whole(3_600_000, "database sources: per statement"))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_schema_names_every_option_a_connector_reads() {
        let schema = source_options_schema().build();
        let documented: BTreeSet<&str> = schema.properties.keys().map(String::as_str).collect();
        let read: BTreeSet<&str> = crate::spec::KNOWN_OPTIONS
            .iter()
            .chain(crate::database::spec::OPTIONS.iter())
            .copied()
            .collect();
        assert_eq!(documented, read);
    }
}
