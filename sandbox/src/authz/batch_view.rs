//! How the pages show what a step-up approves: one payment as before ("Pay bob 25.00 USD"
//! and its memo), more than one as a batch — the summary as the headline, the reference to
//! compare with the terminal, and the list (payee, amount, memo) a page of rows at a time,
//! with plain links between pages, so it works without JavaScript and a thousand payments
//! never make one endless page. Rendered by `templates/batch.html`.

use bank_protocol::{Approval, group_thousands};

/// Rows per page of a batch's list: a screenful at typical sizes.
pub const ROWS_PER_PAGE: usize = 20;

/// What a page shows of an approval: the headline (`data-payment`), one payment's memo,
/// and for more than one payment the batch.
pub(crate) struct ApprovalView {
    pub headline: String,
    pub memo: Option<String>,
    pub batch: Option<BatchView>,
}

/// A batch, one page of its list at a time.
pub(crate) struct BatchView {
    pub reference: String,
    pub count: usize,
    /// "1,234.56 USD", one per currency.
    pub totals: Vec<String>,
    /// This page's rows.
    pub rows: Vec<Row>,
    /// 1-based positions of this page's first and last row.
    pub first: usize,
    pub last: usize,
    pub page: usize,
    pub pages: usize,
    /// The page links, with gaps.
    pub links: Vec<PageLink>,
    pub previous: Option<String>,
    pub next: Option<String>,
    /// The list's element id, which page links return to.
    pub anchor: String,
}

pub(crate) struct Row {
    pub index: usize,
    pub to: String,
    pub amount: String,
    pub memo: Option<String>,
}

/// A page number (with its link unless it is the current page) or a gap (`label` "…").
pub(crate) struct PageLink {
    pub label: String,
    pub href: Option<String>,
    pub current: bool,
}

impl ApprovalView {
    /// The view of `approval` at `page` (1-based, clamped) of its list. `link` makes a
    /// page's URL (`/mfa/wait?txn=…&page=2`); `anchor` names the list on this page.
    pub fn new(
        approval: &Approval,
        page: Option<usize>,
        link: &dyn Fn(usize) -> String,
        anchor: &str,
    ) -> ApprovalView {
        if let Some(payment) = approval.single() {
            return ApprovalView {
                headline: payment.to_string(),
                memo: payment.memo().map(str::to_owned),
                batch: None,
            };
        }
        ApprovalView {
            headline: approval.summary(),
            memo: None,
            batch: Some(BatchView::new(approval, page, link, anchor)),
        }
    }
}

impl BatchView {
    fn new(
        approval: &Approval,
        page: Option<usize>,
        link: &dyn Fn(usize) -> String,
        anchor: &str,
    ) -> BatchView {
        let orders = approval
            .listed()
            .map(|b| b.orders().to_vec())
            .unwrap_or_default();
        let pages = orders.len().div_ceil(ROWS_PER_PAGE).max(1);
        let page = page.unwrap_or(1).clamp(1, pages);
        let start = (page - 1) * ROWS_PER_PAGE;
        let rows: Vec<Row> = orders
            .iter()
            .enumerate()
            .skip(start)
            .take(ROWS_PER_PAGE)
            .map(|(i, o)| Row {
                index: i + 1,
                to: o.to.clone(),
                amount: format!("{} {}", group_thousands(&o.amount.to_string()), o.currency),
                memo: o.memo.clone(),
            })
            .collect();
        let href = |n: usize| format!("{}#{anchor}", link(n));
        BatchView {
            reference: approval.reference().unwrap_or_default(),
            count: approval.count(),
            totals: approval
                .totals()
                .iter()
                .map(|t| format!("{} {}", group_thousands(&t.amount), t.currency))
                .collect(),
            first: start + 1,
            last: start + rows.len(),
            rows,
            page,
            pages,
            links: page_links(page, pages, &href),
            previous: (page > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
            anchor: anchor.to_owned(),
        }
    }
}

/// The first, the last, and the pages next to the current one; gaps between as "…".
fn page_links(page: usize, pages: usize, href: &dyn Fn(usize) -> String) -> Vec<PageLink> {
    let mut links: Vec<PageLink> = Vec::new();
    let mut last_shown = 0;
    for n in 1..=pages {
        let near = n == 1 || n == pages || n.abs_diff(page) <= 2;
        if !near {
            continue;
        }
        if n > last_shown + 1 {
            links.push(PageLink {
                label: "\u{2026}".into(),
                href: None,
                current: false,
            });
        }
        links.push(PageLink {
            label: n.to_string(),
            href: (n != page).then(|| href(n)),
            current: n == page,
        });
        last_shown = n;
    }
    links
}

/// A `page` query parameter: anything but a positive number is the first page.
pub(crate) fn page_number(raw: Option<&str>) -> Option<usize> {
    raw?.trim().parse().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_link_the_ends_and_the_neighbours() {
        let href = |n: usize| format!("?page={n}");
        let labels = |page, pages| -> Vec<String> {
            page_links(page, pages, &href)
                .into_iter()
                .map(|l| {
                    if l.current {
                        format!("[{}]", l.label)
                    } else {
                        l.label
                    }
                })
                .collect()
        };
        assert_eq!(labels(1, 1), ["[1]"]);
        assert_eq!(labels(2, 3), ["1", "[2]", "3"]);
        assert_eq!(labels(1, 50), ["[1]", "2", "3", "\u{2026}", "50"]);
        assert_eq!(
            labels(25, 50),
            [
                "1", "\u{2026}", "23", "24", "[25]", "26", "27", "\u{2026}", "50"
            ]
        );
    }
}
