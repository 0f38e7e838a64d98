//! Word lists the synthetic records draw from. Every host name is under `example`,
//! `example.com`, `example.net` or `example.org`, every IP address is in a documentation range,
//! and every name of a person, company or threat actor is made up.

/// Lower-case ISO 3166 alpha-2 codes, as in `geo` and `users_geo`.
pub const COUNTRIES: &[&str] = &[
    "us", "ru", "de", "gb", "fr", "cn", "br", "in", "nl", "ua", "jp", "es", "it", "ca", "kz", "tr",
    "pl", "se", "sg", "kr", "vn", "id", "mx", "ar", "za",
];

/// IP Reputation categories, repeated to weight them: malware is the most common.
pub const IP_CATEGORIES: &[&str] = &[
    "malware",
    "malware",
    "malware",
    "malware",
    "botnet_cnc",
    "botnet_cnc",
    "spam",
    "spam",
    "tor_exit_node",
    "phishing",
    "malware_hosting",
];

/// Malicious URL categories.
pub const URL_CATEGORIES: &[&str] = &[
    "malware",
    "malware_hosting",
    "exploit",
    "drive_by_download",
    "adware",
];

/// Words that host names and paths are built from.
pub const WORDS: &[&str] = &[
    "login", "secure", "update", "cdn", "files", "mail", "pay", "account", "portal", "static",
    "verify", "download", "shop", "bank", "cloud", "api", "auth", "track", "news", "media",
    "invoice", "office", "support", "drive",
];

/// Registrable domains under the reserved example names.
pub const DOMAINS: &[&str] = &["example", "example.com", "example.net", "example.org"];

/// URL path tails.
pub const PATHS: &[&str] = &[
    "index.php",
    "gate.php",
    "login/verify.html",
    "wp-admin/update.php",
    "files/invoice.exe",
    "a.exe",
    "panel/admin.php",
    "bin/x86",
    "download/setup.msi",
    "mozi.m",
    ".i",
    "docs/scan_0412.pdf.js",
    "api/v1/config",
];

/// Verdict prefixes; an empty string is a verdict without detection method.
pub const VERDICT_PREFIXES: &[&str] = &["HEUR:", "HEUR:", "", "", "UDS:", "not-a-virus:"];

/// Verdict behaviours.
pub const BEHAVIOURS: &[&str] = &[
    "Trojan",
    "Trojan-Downloader",
    "Trojan-Dropper",
    "Backdoor",
    "Trojan-Ransom",
    "Trojan-Spy",
    "Trojan-Banker",
    "Trojan-PSW",
    "Worm",
    "Exploit",
];

/// Verdict platforms for desktop and server malware.
pub const PLATFORMS: &[&str] = &[
    "Win32", "Win32", "Win64", "MSIL", "Linux", "Script", "HTML", "MSOffice", "JS",
];

/// Verdict families.
pub const FAMILIES: &[&str] = &[
    "Generic",
    "Generic",
    "Agent",
    "Mirai",
    "Stealer",
    "Loader",
    "Injector",
    "Crypt",
    "Tiny",
    "Miner",
    "Gafgyt",
    "Convagent",
];

/// File types, as in `file_type`.
pub const FILE_TYPES: &[&str] = &[
    "PE", "PE", "PE", "PE32+", "DLL", "ELF", "DOC", "XLS", "PDF", "ZIP", "JS", "LNK", "MSI",
];

/// Industries, as in Phishing `industry` and APT `industries`.
pub const INDUSTRIES: &[&str] = &[
    "Financial",
    "E-shop",
    "Web Service",
    "Government",
    "Energy",
    "Telecommunications",
    "Healthcare",
    "Education",
    "Manufacturing",
    "Other",
];

/// Phishing `stolen_data_type` values.
pub const STOLEN_DATA: &[&str] = &["email_address", "credentials", "bank_card", "phone_number"];

/// Made-up organisations targeted by phishing.
pub const ORGANIZATIONS: &[&str] = &[
    "Example Bank",
    "Example Mail Service",
    "Example Shop Inc",
    "Example Streaming Ltd",
    "Example Parcel Service",
];

/// Made-up threat actor names.
pub const ACTORS: &[&str] = &[
    "Ember Falcon",
    "Quiet Heron",
    "Grey Lynx",
    "Paper Marten",
    "Silent Osprey",
    "Copper Newt",
];

/// Made-up publication titles.
pub const PUBLICATIONS: &[&str] = &[
    "Example campaign against regional banks",
    "Sample backdoor in supply-chain updates",
    "Fictional espionage toolkit, version 3",
    "Demonstration loader targeting government networks",
];

/// Made-up registrars and hosting organisations; a few carry quotes or non-ASCII letters so
/// that parsers meet escapes and multi-byte UTF-8.
pub const ORGS: &[&str] = &[
    "Example Registrar LLC",
    "Example Hosting Ltd",
    "Demo Networks B.V.",
    "Sample \"Quoted\" Hosting",
    "Société Exemple SARL",
    "REDACTED FOR PRIVACY",
];

/// Vulnerable products.
pub const PRODUCTS: &[&str] = &[
    "Microsoft Office",
    "Adobe Acrobat Reader",
    "Apache Struts",
    "Example SCADA Server",
    "Example PLC Firmware",
    "Google Chrome",
];

/// Severity values, as the ThreatConnect app maps them to ratings 1 to 5.
pub const SEVERITIES: &[&str] = &["Low", "Medium", "Warning", "High", "Critical"];

/// Mobile malware categories.
pub const MOBILE_CATEGORIES: &[&str] = &["mobile_botnet", "sms_trojan", "banker", "spyware"];
