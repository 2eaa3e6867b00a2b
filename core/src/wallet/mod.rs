//! E-licence wallet (电子证照): licences, 亮证 presentations, offline verification, grants.
