-- The county civil-affairs department's database, PostgreSQL variant (the demo ships the same
-- tables as a SQLite file). docker/compose.yaml runs this when the PostgreSQL volume is new;
-- README.md shows registering it with tiaokuai.
CREATE DATABASE civil_affairs;
\connect civil_affairs

CREATE TABLE elderly_alone (
    id           bigint PRIMARY KEY,
    village_code text NOT NULL,
    name         text NOT NULL,
    id_card      text NOT NULL,
    phone        text,
    birth_year   integer NOT NULL,
    care_level   text NOT NULL,
    listed_on    date NOT NULL
);
CREATE TABLE subsidies (
    id           bigint PRIMARY KEY,
    elderly_id   bigint NOT NULL REFERENCES elderly_alone(id),
    village_code text NOT NULL,
    month        date NOT NULL,
    kind         text NOT NULL,
    amount       numeric(10,2) NOT NULL
);
CREATE TABLE visits (
    id           bigint PRIMARY KEY,
    elderly_id   bigint NOT NULL REFERENCES elderly_alone(id),
    village_code text NOT NULL,
    visited_on   date NOT NULL,
    minutes      integer NOT NULL,
    found_ok     boolean NOT NULL,
    note         text
);

-- 8 people in each of 20 villages of 马金镇 (330824116201 … 330824116220), deterministic
INSERT INTO elderly_alone
SELECT n,
       '3308241162' || lpad(((n - 1) / 8 + 1)::text, 2, '0'),
       (ARRAY['汪','程','方','余','徐','郑','叶','吴'])[(n % 8) + 1] || (ARRAY['秀英','桂兰','建国','福','玉兰','德','金花','春'])[((n / 8) % 8) + 1],
       '330824' || (1930 + n % 20)::text || '0101' || lpad((n % 1000)::text, 3, '0') || 'X',
       CASE WHEN n % 3 = 0 THEN NULL ELSE '138' || lpad((n * 7919 % 100000000)::text, 8, '0') END,
       1930 + n % 20,
       (ARRAY['自理','半失能','失能'])[(n % 3) + 1],
       date '2016-01-01' + (n * 37 % 2500)
FROM generate_series(1, 160) AS n;

INSERT INTO subsidies
SELECT (e.id - 1) * 12 + m, e.id, e.village_code, make_date(2024, m, 1), '养老服务补贴',
       CASE e.care_level WHEN '失能' THEN 600 WHEN '半失能' THEN 400 ELSE 200 END + (e.id * m % 50)
FROM elderly_alone e, generate_series(1, 12) AS m;

INSERT INTO visits
SELECT (e.id - 1) * 4 + k, e.id, e.village_code, date '2024-01-01' + (e.id * k * 13 % 366)::integer,
       10 + (e.id * k % 80), (e.id + k) % 15 <> 0,
       (ARRAY['身体状况良好','需送药上门','独居，子女在外务工',NULL])[(k % 4) + 1]
FROM elderly_alone e, generate_series(1, 4) AS k;

-- a read-only login for tiaokuai; the password is what the registration's "secret" names
CREATE ROLE tiaokuai_reader LOGIN PASSWORD 'civil-reader-password';
GRANT SELECT ON ALL TABLES IN SCHEMA public TO tiaokuai_reader;
