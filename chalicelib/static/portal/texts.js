// Everything the portal says, in each language the desk writes (domain/vocabulary.py LANGUAGES).
// Adding a language: one more block here, and its option in index.html.

const TEXTS = {
  en: {
    title: "Help centre", help: "Search help", newTicket: "Contact us", myTickets: "My requests", signIn: "Sign in",
    signOut: "Sign out", language: "Language", searchLabel: "Search the help centre",
    searchPlaceholder: "How do I return an item?", searchButton: "Search", noResults: "No articles match. You can contact us instead.",
    results: "Articles", back: "Back to search", notHelpful: "Didn't find your answer?", contactUs: "Contact us",
    name: "Your name", email: "Your email", subject: "Subject", message: "How can we help?", files: "Attachments (optional)",
    filesHint: "Images, PDF, text or office documents, up to 10 MB each.", send: "Send",
    sent: "Thank you! We received your request and mailed a confirmation to {email}. Sign in with that address to follow it.",
    signInIntro: "We mail you a link that signs you in. It works once, for 15 minutes.",
    sendLink: "Mail me a link", linkSent: "If we have requests from {email}, a sign-in link is on its way. Check your inbox.",
    signedIn: "You are signed in.", linkFailed: "This sign-in link cannot be used: {reason}",
    noTickets: "You have no requests yet.", number: "No.", status: "Status", updated: "Last activity",
    conversation: "Conversation", you: "You", reply: "Write a reply", sendReply: "Send reply",
    replySent: "Sent. It appears here in a moment.", loading: "Loading…", error: "Something went wrong: {reason}",
    sessionEnded: "Your session has ended. Sign in again.",
    statuses: {open: "Open", pending: "Waiting for you", on_hold: "On hold", solved: "Solved", closed: "Closed"},
    suggested: "These articles may answer it:",
    kbQuestion: "Did this answer your question?", kbYes: "Yes", kbNo: "No",
    kbSolved: "Glad it helped! We have marked your request as solved. Just reply to our message if you need anything else.",
    kbThanks: "Thank you for telling us. Glad it helped!",
    kbNotSolved: "Thank you for telling us. Your request stays with our team, and we will answer you soon.",
  },
  da: {
    title: "Hjælpecenter", help: "Søg hjælp", newTicket: "Kontakt os", myTickets: "Mine henvendelser", signIn: "Log ind",
    signOut: "Log ud", language: "Sprog", searchLabel: "Søg i hjælpecentret",
    searchPlaceholder: "Hvordan returnerer jeg en vare?", searchButton: "Søg", noResults: "Ingen artikler passer. Du kan kontakte os i stedet.",
    results: "Artikler", back: "Tilbage til søgning", notHelpful: "Fandt du ikke svaret?", contactUs: "Kontakt os",
    name: "Dit navn", email: "Din e-mail", subject: "Emne", message: "Hvad kan vi hjælpe med?", files: "Vedhæftede filer (valgfrit)",
    filesHint: "Billeder, PDF, tekst eller kontordokumenter, højst 10 MB hver.", send: "Send",
    sent: "Tak! Vi har modtaget din henvendelse og sendt en bekræftelse til {email}. Log ind med den adresse for at følge den.",
    signInIntro: "Vi sender dig et link, der logger dig ind. Det virker én gang i 15 minutter.",
    sendLink: "Send mig et link", linkSent: "Hvis vi har henvendelser fra {email}, er et login-link på vej. Tjek din indbakke.",
    signedIn: "Du er logget ind.", linkFailed: "Linket kan ikke bruges: {reason}",
    noTickets: "Du har ingen henvendelser endnu.", number: "Nr.", status: "Status", updated: "Seneste aktivitet",
    conversation: "Samtale", you: "Dig", reply: "Skriv et svar", sendReply: "Send svar",
    replySent: "Sendt. Det vises her om et øjeblik.", loading: "Henter…", error: "Noget gik galt: {reason}",
    sessionEnded: "Din session er udløbet. Log ind igen.",
    statuses: {open: "Åben", pending: "Venter på dig", on_hold: "På hold", solved: "Løst", closed: "Lukket"},
    suggested: "Disse artikler kan måske hjælpe:",
    kbQuestion: "Besvarede dette dit spørgsmål?", kbYes: "Ja", kbNo: "Nej",
    kbSolved: "Godt, at det hjalp! Vi har markeret din henvendelse som løst. Svar blot på vores besked, hvis du har brug for mere.",
    kbThanks: "Tak, fordi du fortalte os det. Godt, at det hjalp!",
    kbNotSolved: "Tak, fordi du fortalte os det. Din henvendelse ligger stadig hos vores team, og vi svarer dig snarest.",
  },
  no: {
    title: "Hjelpesenter", help: "Søk hjelp", newTicket: "Kontakt oss", myTickets: "Mine henvendelser", signIn: "Logg inn",
    signOut: "Logg ut", language: "Språk", searchLabel: "Søk i hjelpesenteret",
    searchPlaceholder: "Hvordan returnerer jeg en vare?", searchButton: "Søk", noResults: "Ingen artikler passer. Du kan kontakte oss i stedet.",
    results: "Artikler", back: "Tilbake til søk", notHelpful: "Fant du ikke svaret?", contactUs: "Kontakt oss",
    name: "Navnet ditt", email: "E-postadressen din", subject: "Emne", message: "Hva kan vi hjelpe med?", files: "Vedlegg (valgfritt)",
    filesHint: "Bilder, PDF, tekst eller kontordokumenter, opptil 10 MB hver.", send: "Send",
    sent: "Takk! Vi har mottatt henvendelsen og sendt en bekreftelse til {email}. Logg inn med den adressen for å følge den.",
    signInIntro: "Vi sender deg en lenke som logger deg inn. Den virker én gang i 15 minutter.",
    sendLink: "Send meg en lenke", linkSent: "Hvis vi har henvendelser fra {email}, er en innloggingslenke på vei. Sjekk innboksen.",
    signedIn: "Du er logget inn.", linkFailed: "Lenken kan ikke brukes: {reason}",
    noTickets: "Du har ingen henvendelser ennå.", number: "Nr.", status: "Status", updated: "Siste aktivitet",
    conversation: "Samtale", you: "Deg", reply: "Skriv et svar", sendReply: "Send svar",
    replySent: "Sendt. Det vises her om et øyeblikk.", loading: "Henter…", error: "Noe gikk galt: {reason}",
    sessionEnded: "Økten er utløpt. Logg inn igjen.",
    statuses: {open: "Åpen", pending: "Venter på deg", on_hold: "På vent", solved: "Løst", closed: "Lukket"},
    suggested: "Disse artiklene kan kanskje hjelpe:",
    kbQuestion: "Svarte dette på spørsmålet ditt?", kbYes: "Ja", kbNo: "Nei",
    kbSolved: "Så bra at det hjalp! Vi har markert henvendelsen din som løst. Bare svar på meldingen vår hvis du trenger noe mer.",
    kbThanks: "Takk for at du sa fra. Så bra at det hjalp!",
    kbNotSolved: "Takk for at du sa fra. Henvendelsen din ligger fortsatt hos teamet vårt, og vi svarer deg snart.",
  },
};

export const LANGUAGES = Object.keys(TEXTS);
const KEY = "relay-desk.portal-language";

// The customer's choice, else the browser's language (nb/nn are Norwegian), else English.
export function initialLanguage() {
  const chosen = localStorage.getItem(KEY);
  if (LANGUAGES.includes(chosen)) return chosen;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    const mapped = base === "nb" || base === "nn" ? "no" : base;
    if (LANGUAGES.includes(mapped)) return mapped;
  }
  return "en";
}

export function remember(language) { localStorage.setItem(KEY, language); }

// t("sent", {email}) in the current language; placeholders filled as text.
export function texts(language) {
  const table = TEXTS[language] || TEXTS.en;
  return (key, values = {}) => String(table[key] ?? TEXTS.en[key] ?? key)
    .replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

export function statusText(language, status) {
  return ((TEXTS[language] || TEXTS.en).statuses || {})[status] || status;
}
