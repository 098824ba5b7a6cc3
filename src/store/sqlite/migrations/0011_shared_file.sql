-- unlistd schema, version 11: the site budgets and leases move to their
-- own small file beside the store (`PATH-shared`), so that a long write
-- transaction here (an import's apply) never holds back a request's turn
-- or lets a lease lapse. What they held is transient (turns claimed a
-- quarter second ahead, gates and leases of seconds).
DROP TABLE site_budget;
DROP TABLE leases;
