//! Counties by name as clerks know them: the directory's name, else the shipped GB/T 2260
//! table's (a node enrolled without `--name`, or a county that is not a node), with the code
//! beside it — for the query and alert pages.

use std::collections::BTreeMap;

use mpx_proto::division::DivisionTable;

use crate::store::{Store, StoreError};

/// The names of the directory's counties, read once per page.
#[derive(Debug, Default)]
pub struct CountyNames {
    directory: BTreeMap<String, String>,
}

impl CountyNames {
    /// The directory's counties and names (an empty name is left to the shipped table).
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let directory = store
            .list_nodes()
            .await?
            .into_iter()
            .map(|node| (node.county, node.name.trim().to_string()))
            .collect();
        Ok(Self { directory })
    }

    /// The directory's counties (codes), in order: the choices of a county filter.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.directory.keys().map(String::as_str)
    }

    /// A county's name, or nothing when neither the directory nor the table knows it.
    pub fn name(&self, code: &str) -> String {
        if let Some(name) = self.directory.get(code).filter(|name| !name.is_empty()) {
            return name.clone();
        }
        DivisionTable::shipped()
            .county_name(code)
            .unwrap_or_default()
            .to_string()
    }

    /// 武都区（621202）; the code alone when no name is known; — for none.
    pub fn label(&self, code: &str) -> String {
        if code.is_empty() {
            return "—".into();
        }
        match self.name(code) {
            name if name.is_empty() => code.to_string(),
            name => format!("{name}（{code}）"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_county_is_named_by_the_directory_else_the_shipped_table() {
        let mut names = CountyNames::default();
        assert_eq!(names.label("620102"), "城关区（620102）");
        names
            .directory
            .insert("620102".into(), "兰州市城关区".into());
        assert_eq!(names.label("620102"), "兰州市城关区（620102）");
        assert_eq!(names.label(""), "—");
        assert_eq!(names.label("629999"), "629999");
    }
}
