//! List endpoints: `limit` (1 to 100, default 10), `starting_after` and
//! `ending_before` cursors, and the `{object: "list", data, has_more, url}`
//! envelope. Items come newest first.

use std::borrow::Borrow;

use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::params::Params;

/// The pagination parameters of one list request.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

impl Page {
    /// Takes `limit`, `starting_after` and `ending_before` from `params`.
    pub fn take(params: &mut Params) -> ApiResult<Page> {
        let limit = params.integer_in("limit", 1, 100)?.unwrap_or(10) as usize;
        let starting_after = params.string("starting_after")?.filter(|s| !s.is_empty());
        let ending_before = params.string("ending_before")?.filter(|s| !s.is_empty());
        if starting_after.is_some() && ending_before.is_some() {
            return Err(ApiError::invalid_param(
                "ending_before",
                "You may only specify one of these parameters: starting_after, ending_before.",
            ));
        }
        Ok(Page {
            limit,
            starting_after,
            ending_before,
        })
    }

    /// Cuts one page out of `items` (newest first) and wraps it in a list
    /// object for `url`.
    /// Only the page is cloned, so callers pass references to keep a list
    /// of a large account cheap.
    pub fn apply<T: Borrow<Value>>(&self, items: Vec<T>, url: &str) -> ApiResult<Value> {
        let position = |cursor: &str, param: &str| {
            items
                .iter()
                .position(|item| item.borrow()["id"] == cursor)
                .ok_or_else(|| ApiError::no_such("object", cursor, param))
        };
        let (data, has_more): (Vec<Value>, bool) = if let Some(cursor) = &self.starting_after {
            let start = position(cursor, "starting_after")? + 1;
            let rest = &items[start..];
            (
                rest.iter()
                    .take(self.limit)
                    .map(|item| item.borrow().clone())
                    .collect(),
                rest.len() > self.limit,
            )
        } else if let Some(cursor) = &self.ending_before {
            let end = position(cursor, "ending_before")?;
            let before = &items[..end];
            let start = before.len().saturating_sub(self.limit);
            (
                before[start..]
                    .iter()
                    .map(|item| item.borrow().clone())
                    .collect(),
                start > 0,
            )
        } else {
            (
                items
                    .iter()
                    .take(self.limit)
                    .map(|item| item.borrow().clone())
                    .collect(),
                items.len() > self.limit,
            )
        };
        Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Value> {
        (0..n)
            .rev()
            .map(|i| json!({ "id": format!("obj_{i}") }))
            .collect()
    }

    fn ids(list: &Value) -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn starting_after_walks_forward() {
        let page = Page {
            limit: 2,
            starting_after: Some("obj_4".into()),
            ending_before: None,
        };
        let list = page.apply(items(5), "/v1/x").unwrap();
        assert_eq!(ids(&list), ["obj_3", "obj_2"]);
        assert_eq!(list["has_more"], true);
    }

    #[test]
    fn ending_before_walks_back() {
        let page = Page {
            limit: 2,
            starting_after: None,
            ending_before: Some("obj_1".into()),
        };
        let list = page.apply(items(5), "/v1/x").unwrap();
        assert_eq!(ids(&list), ["obj_3", "obj_2"]);
        assert_eq!(list["has_more"], true);
    }

    #[test]
    fn unknown_cursor_is_404() {
        let page = Page {
            limit: 2,
            starting_after: Some("nope".into()),
            ending_before: None,
        };
        let err = page.apply(items(2), "/v1/x").unwrap_err();
        assert_eq!(err.status.as_u16(), 404);
        assert_eq!(err.param.as_deref(), Some("starting_after"));
    }
}
