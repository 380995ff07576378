-- XEP-0054 vcard-temp: an account's vCard as the client set it, and the
-- SHA-1 of its PHOTO (XEP-0153), '' when it has none.
CREATE TABLE vcards (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    xml MEDIUMTEXT NOT NULL,
    photo_hash VARCHAR(40) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
