//! ImportApiKeys (`POST /apikeys?mode=import&format=csv`): AWS's API key file format.
//!
//! The first row names the columns, in any order and any case: `Name` and `Key` are
//! required; `Description`, `Enabled` (default true) and `UsagePlanIds` (several ids as one
//! quoted, comma-separated field) are optional; other columns are ignored. Fields may be
//! quoted with `"` (a doubled `""` is a quote) or `'`. A row that cannot be imported (a value
//! of the wrong length, an unknown usage plan, …) is skipped with a warning, or fails the whole
//! import with `failonwarnings=true`. A key whose value already exists is updated in place (the
//! most recent import wins, as AWS); so is an earlier row with the same value.
//!
//! One file holds at most [`MAX_IMPORT_KEYS`] rows: AWS allows 10 000 API keys per account
//! and Region, so no AWS file holds more. A longer file is refused whole, before anything is
//! read into the registry, with AWS's `LimitExceededException` (429) saying to split it; a
//! body over the admin API's size limit is refused with 413 before it is read (`http.rs`).
//! Larger key sets are imported in several calls.

use super::apikeys::{query_flag, MAX_NAME_LENGTH};
use super::mint_id;
use super::{commit, read, Reply};
use crate::admin::error::ApiError;
use crate::admin::paging::Query;
use crate::admin::wire::plans::ApiKeyIdsOut;
use crate::admin::AdminState;
use crate::ids::now_epoch;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tollgate_proto::model::{ApiKey, MAX_API_KEY_LENGTH, MIN_API_KEY_LENGTH};
use tollgate_proto::{Command, Scope};

/// The most rows one ImportApiKeys file may hold (AWS: 10 000 API keys per account and Region).
pub const MAX_IMPORT_KEYS: usize = 10_000;

/// One importable row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The key value.
    pub value: String,
    /// Its name.
    pub name: String,
    /// Its description (empty = none).
    pub description: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Usage plans to subscribe it to.
    pub plan_ids: Vec<String>,
}

/// Splits CSV text into records of fields. Blank lines are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    let mut line = 1usize;
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' if at_field_start => {
                let quote = c;
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated quoted field on line {line}")),
                        Some(q) if q == quote => {
                            if quote == '"' && chars.peek() == Some(&'"') {
                                chars.next();
                                field.push('"');
                            } else {
                                break;
                            }
                        }
                        Some(other) => {
                            if other == '\n' {
                                line += 1;
                            }
                            field.push(other);
                        }
                    }
                }
                at_field_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if !(fields.len() == 1 && fields[0].trim().is_empty()) {
                    records.push(std::mem::take(&mut fields));
                }
                fields.clear();
                at_field_start = true;
                line += 1;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    fields.push(field);
    if !(fields.len() == 1 && fields[0].trim().is_empty()) {
        records.push(fields);
    }
    Ok(records)
}

/// Reads the rows of an API key file. Returns the importable rows (a later row with the
/// same value replacing an earlier one) and a warning per row skipped. `plan_exists` says
/// whether a usage plan id is known.
pub fn parse_rows(
    text: &str,
    plan_exists: &dyn Fn(&str) -> bool,
) -> Result<(Vec<Row>, Vec<String>), ApiError> {
    let records =
        parse_csv(text).map_err(|e| ApiError::bad_request(format!("Invalid API key file: {e}")))?;
    let Some((header, data)) = records.split_first() else {
        return Err(ApiError::bad_request("Invalid API key file: it is empty"));
    };
    if data.len() > MAX_IMPORT_KEYS {
        return Err(ApiError::with_code(
            429,
            "LimitExceededException",
            format!(
                "Import failed: the API key file has {} rows; at most {MAX_IMPORT_KEYS} API keys \
                 can be imported in one call (AWS's quota of API keys per account and Region). \
                 Split the file and import the parts in turn",
                data.len()
            ),
        ));
    }
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(key_col), Some(name_col)) = (column("key"), column("name")) else {
        return Err(ApiError::bad_request(
            "Invalid API key file: the header must name the Name and Key columns",
        ));
    };
    let (desc_col, enabled_col, plans_col) = (
        column("description"),
        column("enabled"),
        column("usageplanids"),
    );
    // Rows in file order; a row replaced by a later one with the same value is None.
    let mut rows: Vec<Option<Row>> = Vec::new();
    let mut row_of_value: HashMap<String, usize> = HashMap::new();
    let mut warnings = Vec::new();
    for (i, rec) in data.iter().enumerate() {
        let n = i + 1;
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let value = get(Some(key_col));
        let len = value.chars().count();
        if !(MIN_API_KEY_LENGTH..=MAX_API_KEY_LENGTH).contains(&len) {
            warnings.push(format!(
                "Row {n}: the key must be {MIN_API_KEY_LENGTH} to {MAX_API_KEY_LENGTH} characters"
            ));
            continue;
        }
        let name = get(Some(name_col));
        if name.chars().count() > MAX_NAME_LENGTH {
            warnings.push(format!(
                "Row {n}: the name must be at most {MAX_NAME_LENGTH} characters"
            ));
            continue;
        }
        let description = get(desc_col);
        if let Err(e) = crate::admin::limits::check_name("The name", &name).and_then(|()| {
            crate::admin::limits::check_description("The description", Some(&description))
        }) {
            warnings.push(format!("Row {n}: {}", e.message));
            continue;
        }
        let enabled = match get(enabled_col).to_ascii_lowercase().as_str() {
            "" | "true" => true,
            "false" => false,
            other => {
                warnings.push(format!("Row {n}: invalid Enabled value '{other}'"));
                continue;
            }
        };
        let plan_ids: Vec<String> = get(plans_col)
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        if let Some(p) = plan_ids.iter().find(|p| !plan_exists(p)) {
            warnings.push(format!("Row {n}: invalid usage plan identifier {p}"));
            continue;
        }
        if let Some(earlier) = row_of_value.insert(value.clone(), rows.len()) {
            rows[earlier] = None;
        }
        rows.push(Some(Row {
            value,
            name,
            description,
            enabled,
            plan_ids,
        }));
    }
    Ok((rows.into_iter().flatten().collect(), warnings))
}

/// ImportApiKeys (201): `{"ids": [...], "warnings": [...]}`.
pub async fn import(state: &AdminState, query: &Query, body: &[u8]) -> Result<Reply, ApiError> {
    match query.get("format") {
        Some(f) if f.eq_ignore_ascii_case("csv") => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid format specified: {}. Only csv is supported",
                other.unwrap_or("")
            )))
        }
    }
    let fail_on_warnings =
        query_flag(query, "failonwarnings") || query_flag(query, "failOnWarnings");
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("Invalid API key file: it is not UTF-8 text"))?;
    let (keys, plan_keys, warnings, guards) = read(state, |reg| {
        let (rows, warnings) = parse_rows(text, &|p| reg.usage_plans.contains_key(p))?;
        let now = now_epoch();
        let mut keys = Vec::new();
        let mut plan_keys = BTreeSet::new();
        // An existing key is rewritten whole from what is read here: guarded on its version.
        let mut guards = BTreeMap::new();
        for r in rows {
            let existing = reg.api_key_by_value(&r.value);
            if let Some(k) = existing {
                let scope = Scope::ApiKey(k.id.clone());
                let version = reg.version(&scope);
                guards.insert(scope, version);
            }
            let key = ApiKey {
                id: existing.map_or_else(|| mint_id(10), |k| k.id.clone()),
                value: r.value,
                name: Some(r.name).filter(|n| !n.is_empty()),
                enabled: r.enabled,
                created_date: existing.map_or(now, |k| k.created_date),
                last_updated_date: now,
                extra: None,
            }
            .with_extra(
                Some(r.description).filter(|d| !d.is_empty()),
                existing.and_then(|k| k.customer_id().map(String::from)),
                existing.map(|k| k.tags().clone()).unwrap_or_default(),
            );
            for p in r.plan_ids {
                plan_keys.insert((p, key.id.clone()));
            }
            keys.push(key);
        }
        Ok((
            keys,
            plan_keys.into_iter().collect::<Vec<_>>(),
            warnings,
            guards.into_iter().collect::<Vec<_>>(),
        ))
    })?;
    if fail_on_warnings && !warnings.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Import failed: {}",
            warnings.join("; ")
        )));
    }
    let ids = keys.iter().map(|k| k.id.clone()).collect();
    let import = Command::ImportApiKeys { keys, plan_keys };
    let cmd = if guards.is_empty() {
        import
    } else {
        Command::IfUnchanged {
            guards,
            command: Box::new(import),
        }
    };
    commit(state, cmd).await?;
    Reply::json(201, &ApiKeyIdsOut { ids, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_awss_key_limit_is_refused_whole() {
        let file = |rows: usize| {
            let mut t = String::from("Name,Key\n");
            for i in 0..rows {
                t.push_str(&format!("k{i},import-limit-value-{i:08}\n"));
            }
            t
        };
        let (rows, warnings) = parse_rows(&file(MAX_IMPORT_KEYS), &|_| true).unwrap();
        assert_eq!((rows.len(), warnings.len()), (MAX_IMPORT_KEYS, 0));
        let e = parse_rows(&file(MAX_IMPORT_KEYS + 1), &|_| true).unwrap_err();
        assert_eq!((e.status, e.error_type), (429, "LimitExceededException"));
        assert!(e.message.contains("10001 rows"), "{}", e.message);
        assert!(e.message.contains("at most 10000"), "{}", e.message);
    }

    #[test]
    fn csv_fields_quotes_and_lines() {
        let recs = parse_csv("a,b,c\r\n\"x,1\",'y,2',\"say \"\"hi\"\"\"\n\nlast,,\n").unwrap();
        assert_eq!(
            recs,
            vec![
                vec!["a", "b", "c"],
                vec!["x,1", "y,2", "say \"hi\""],
                vec!["last", "", ""],
            ]
        );
        assert_eq!(parse_csv("a\nb").unwrap(), vec![vec!["a"], vec!["b"]]);
        assert!(parse_csv("a,\"open\n").is_err());
        // An apostrophe inside a field is just a character.
        assert_eq!(parse_csv("it's,x").unwrap(), vec![vec!["it's", "x"]]);
    }

    #[test]
    fn rows_follow_the_header_in_any_order_and_case() {
        let v1 = "apikey1234abcdefghij0123456789";
        let v2 = "apikey1234abcdefghij9876543210";
        let text = format!(
            "Enabled,Name,key,UsageplanIds,Extra\n\
             true,First,{v1},\"p1,p2\",ignored\n\
             FALSE,Second,{v2},,\n\
             maybe,Bad,{v2}x,,\n\
             ,Short,tooshort,,\n\
             ,Unknown,{v2}y,p9,\n\
             ,Again,{v1},p1,\n"
        );
        let (rows, warnings) = parse_rows(&text, &|p| p == "p1" || p == "p2").unwrap();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].starts_with("Row 3"));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "Second");
        assert!(!rows[0].enabled);
        assert!(rows[0].plan_ids.is_empty());
        // The later row with v1 replaced the first one.
        assert_eq!(rows[1].name, "Again");
        assert!(rows[1].enabled);
        assert_eq!(rows[1].plan_ids, ["p1"]);
        let (rows, _) = parse_rows(
            &format!("Name,Key,Description,Enabled,UsagePlanIds\nn,{v1},a key,TRUE,\"p1,p2\""),
            &|_| true,
        )
        .unwrap();
        assert_eq!(rows[0].description, "a key");
        assert_eq!(rows[0].plan_ids, ["p1", "p2"]);
    }

    #[test]
    fn bad_files_are_refused() {
        for text in ["", "name,description\nx,y", "key\nabc"] {
            assert_eq!(
                parse_rows(text, &|_| true).unwrap_err().status,
                400,
                "{text}"
            );
        }
    }
}
