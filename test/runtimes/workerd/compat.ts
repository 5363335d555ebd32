/** A compatibility date that gives navigator.userAgent "Cloudflare-Workers" (any date from 2022-03-21) and is within what the installed workerd supports. */
export const COMPATIBILITY_DATE = "2026-04-01";
