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
        self.apply_where(items, |_| true, url)
    }

    /// Cuts a page as [`Page::apply`] does, keeping only the items that
    /// `keep` accepts. A cursor may name any item, accepted or not, because
    /// a client that expires each open session while paging passes cursors
    /// that no longer match the filter, and Stripe goes on from there.
    pub fn apply_where<T: Borrow<Value>>(
        &self,
        items: Vec<T>,
        keep: impl Fn(&Value) -> bool,
        url: &str,
    ) -> ApiResult<Value> {
        let position = |cursor: &str, param: &str| {
            items
                .iter()
                .position(|item| item.borrow()["id"] == cursor)
                .ok_or_else(|| ApiError::no_such_param("object", cursor, param))
        };
        let (all, keep) = (&items, &keep);
        let matching = move |range: std::ops::Range<usize>| {
            all[range]
                .iter()
                .map(Borrow::borrow)
                .filter(|item| keep(item))
                .cloned()
        };
        let (data, has_more) = if let Some(cursor) = &self.ending_before {
            let end = position(cursor, "ending_before")?;
            let mut before: Vec<Value> = matching(0..end).collect();
            let start = before.len().saturating_sub(self.limit);
            (before.split_off(start), start > 0)
        } else {
            let start = match &self.starting_after {
                Some(cursor) => position(cursor, "starting_after")? + 1,
                None => 0,
            };
            let mut data: Vec<Value> = matching(start..all.len()).take(self.limit + 1).collect();
            let more = data.len() > self.limit;
            data.truncate(self.limit);
            (data, more)
        };
        Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
    }

    /// Cuts one page out of `ids` (newest first) and wraps it in a list
    /// object for `url`. `load` returns the object of an id if it belongs
    /// in the list. It runs only for the ids up to the end of the page, so
    /// the first page of a large account costs no more than the page.
    pub fn walk<S: AsRef<str>>(
        &self,
        ids: impl Iterator<Item = S>,
        mut load: impl FnMut(&str) -> Option<Value>,
        url: &str,
    ) -> ApiResult<Value> {
        let mut ids = ids;
        let (data, has_more) = if let Some(cursor) = &self.starting_after {
            // The cursor only marks a place: it may name an object that
            // the filter leaves out.
            let found = ids.by_ref().any(|id| id.as_ref() == cursor);
            if !found {
                return Err(ApiError::no_such_param("object", cursor, "starting_after"));
            }
            self.first(ids, load)
        } else if let Some(cursor) = &self.ending_before {
            let mut before = std::collections::VecDeque::with_capacity(self.limit + 1);
            let mut found = false;
            let mut more = false;
            for id in ids {
                let id = id.as_ref();
                if id == cursor {
                    found = true;
                    break;
                }
                if let Some(object) = load(id) {
                    before.push_back(object);
                    if before.len() > self.limit {
                        before.pop_front();
                        more = true;
                    }
                }
            }
            if !found {
                return Err(ApiError::no_such_param("object", cursor, "ending_before"));
            }
            (before.into_iter().collect(), more)
        } else {
            self.first(ids, load)
        };
        Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
    }

    fn first<S: AsRef<str>>(
        &self,
        ids: impl Iterator<Item = S>,
        mut load: impl FnMut(&str) -> Option<Value>,
    ) -> (Vec<Value>, bool) {
        let mut data: Vec<Value> = ids
            .filter_map(|id| load(id.as_ref()))
            .take(self.limit + 1)
            .collect();
        let more = data.len() > self.limit;
        data.truncate(self.limit);
        (data, more)
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
    fn walk_agrees_with_apply() {
        let all = items(9);
        let ids: Vec<String> = all
            .iter()
            .map(|v| v["id"].as_str().unwrap().into())
            .collect();
        // Keep even numbers only, as a filter would.
        let keep = |id: &str| {
            let n: usize = id["obj_".len()..].parse().unwrap();
            n.is_multiple_of(2).then(|| json!({ "id": id }))
        };
        let even = |item: &Value| keep(item["id"].as_str().unwrap()).is_some();
        for (starting_after, ending_before) in [
            (None, None),
            (Some("obj_8"), None),
            (Some("obj_2"), None),
            (None, Some("obj_0")),
            (None, Some("obj_6")),
            (Some("obj_3"), None),
            (None, Some("obj_5")),
            (Some("obj_10"), None),
            (None, Some("obj_10")),
        ] {
            for limit in [1, 2, 3, 10] {
                let page = Page {
                    limit,
                    starting_after: starting_after.map(str::to_owned),
                    ending_before: ending_before.map(str::to_owned),
                };
                let walked = page.walk(ids.iter().map(String::as_str), keep, "/v1/x");
                let applied = page.apply_where(all.iter().collect(), even, "/v1/x");
                match (walked, applied) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{page:?}"),
                    (Err(a), Err(b)) => assert_eq!(a.param, b.param, "{page:?}"),
                    (a, b) => panic!("{page:?}: walk {a:?}, apply {b:?}"),
                }
            }
        }
    }

    #[test]
    fn cursor_outside_filter_keeps_place() {
        let odd = |item: &Value| {
            let n: usize = item["id"].as_str().unwrap()["obj_".len()..]
                .parse()
                .unwrap();
            n % 2 == 1
        };
        let after = Page {
            limit: 2,
            starting_after: Some("obj_6".into()),
            ending_before: None,
        };
        let list = after.apply_where(items(9), odd, "/v1/x").unwrap();
        assert_eq!(ids(&list), ["obj_5", "obj_3"]);
        assert_eq!(list["has_more"], true);
        let before = Page {
            limit: 2,
            starting_after: None,
            ending_before: Some("obj_2".into()),
        };
        let list = before.apply_where(items(9), odd, "/v1/x").unwrap();
        assert_eq!(ids(&list), ["obj_5", "obj_3"]);
        assert_eq!(list["has_more"], true);
    }

    #[test]
    fn unknown_cursor_is_400() {
        let page = Page {
            limit: 2,
            starting_after: Some("nope".into()),
            ending_before: None,
        };
        let err = page.apply(items(2), "/v1/x").unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        assert_eq!(err.param.as_deref(), Some("starting_after"));
    }
}
