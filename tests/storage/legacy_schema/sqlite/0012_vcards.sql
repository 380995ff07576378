-- XEP-0054 vcard-temp: an account's vCard as the client set it, and the
-- SHA-1 of its PHOTO (XEP-0153), '' when it has none.
CREATE TABLE vcards (
    owner TEXT NOT NULL PRIMARY KEY,
    xml TEXT NOT NULL,
    photo_hash TEXT NOT NULL DEFAULT ''
);
