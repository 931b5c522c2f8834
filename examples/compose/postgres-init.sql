-- One PostgreSQL server, one database per party's adapter (each adapter owns its store).
CREATE DATABASE lus_sv;
CREATE DATABASE lus_vc;
CREATE DATABASE lus_k;
