"""What a customer reads of a satisfaction survey, in English, Danish and Norwegian: the message and the page.

One table per language (``WORDING``): the survey message (``question``) and every
string of the survey page (``chalicelib/templates/survey_*.html.j2``) come from it, so
adding a language is adding one entry here once ``vocabulary.LANGUAGES`` names it. The language is
the customer's (``language.for_customer``: their preference, else the ticket's detected one); a page
that cannot name its ticket (a forged or cut-short link) uses the browser's
``Accept-Language`` instead (``language_from_accept``), and anything else is English.

Pure Python: the service composes the message with it, the HTTP edge the pages.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from chalicelib.domain import language as languages
from chalicelib.domain.vocabulary import DEFAULT_LANGUAGE

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "WORDING", "language_for", "language_from_accept", "question",
           "wording"]

_EN: dict[str, Any] = {
    "title": "How did we do?",
    "about": "About your request #{number}",
    "rating_legend": "How satisfied are you with how we handled your request?",
    "ratings": {5: "Very satisfied", 4: "Satisfied", 3: "Neutral", 2: "Dissatisfied", 1: "Very dissatisfied"},
    "nps_legend": "How likely are you to recommend us to a friend or colleague?",
    "nps_hint": "0 = not at all likely, 10 = extremely likely",
    "ces_legend": "How much do you agree: “They made it easy for me to get my issue handled.”",
    "ces_scale": {1: "Strongly disagree", 2: "Disagree", 3: "Somewhat disagree", 4: "Neither agree nor disagree",
                  5: "Somewhat agree", 6: "Agree", 7: "Strongly agree"},
    "optional": "(optional)",
    "no_answer": "No answer",
    "comment_label": "Anything you would like to tell us?",
    "comment_hint": "At most 2,000 characters.",
    "submit": "Send my answer",
    "nothing_yet": "Nothing is recorded until you press “Send my answer”.",
    "link_rating_unknown": "The rating in the link is not one we know; please choose one below.",
    "thanks_title": "Thank you!",
    "thanks": "Your answer has been recorded.",
    "thanks_low": "Thank you for telling us. We are sorry we let you down: your request is back with our team.",
    "your_answer": "Your answer",
    "rating_name": "Satisfaction", "nps_name": "Recommendation (0–10)", "ces_name": "Ease (1–7)",
    "comment_name": "Comment",
    "answered_title": "Already answered",
    "answered": "This survey has already been answered. Thank you: the first answer stands.",
    "expired_title": "This link has expired",
    "expired": "Survey links work for a limited time. If you still need help, just reply to our message.",
    "invalid_title": "This link is not valid",
    "invalid": "It may have been changed or cut short. Please open the link from our message again, whole.",
    "wrong_ticket": "It is not the survey link we sent for this request.",
    "check_title": "Please check your answer",
    "invalid_rating": "Please choose a rating from 1 to 5.",
    "invalid_nps": "Please choose a number from 0 to 10, or no answer.",
    "invalid_ces": "Please choose a number from 1 to 7, or no answer.",
    "invalid_comment": "Your comment is too long: at most 2,000 characters.",
    "invalid_other": "The form held something we do not ask for. Please open the link from our message again.",
    "unreadable_title": "The form could not be read",
    "unreadable": "Please open the link from our message again and send the form once more.",
    "too_large_title": "That was more than we can take",
    "too_large": "A comment can be at most 2,000 characters. Please go back and shorten it.",
    "busy_title": "Not recorded yet",
    "busy": "We could not record your answer just now. Please try again in a moment.",
    "unavailable_title": "Surveys are not available",
    "unavailable": "Surveys are not available right now. Please try again later.",
    "back": "Back to the survey",
    "months": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December"),
    "date": "{day} {month} {year}",
    "mail_intro": "How did we do? Rate 1–5 how we handled your request #{number}{about}.",
    "mail_how": "Each link opens a short page where you confirm your rating and can tell us more; "
                "the links work until {date}.",
    "mail_help": "Still need help? Just reply to this message.",
}

_DA: dict[str, Any] = {
    "title": "Hvordan klarede vi det?",
    "about": "Om din sag #{number}",
    "rating_legend": "Hvor tilfreds er du med den måde, vi håndterede din henvendelse på?",
    "ratings": {5: "Meget tilfreds", 4: "Tilfreds", 3: "Neutral", 2: "Utilfreds", 1: "Meget utilfreds"},
    "nps_legend": "Hvor sandsynligt er det, at du vil anbefale os til en ven eller kollega?",
    "nps_hint": "0 = slet ikke sandsynligt, 10 = meget sandsynligt",
    "ces_legend": "Hvor enig er du: »Det var nemt for mig at få løst min sag.«",
    "ces_scale": {1: "Helt uenig", 2: "Uenig", 3: "Delvis uenig", 4: "Hverken enig eller uenig", 5: "Delvis enig",
                  6: "Enig", 7: "Helt enig"},
    "optional": "(valgfrit)",
    "no_answer": "Intet svar",
    "comment_label": "Er der andet, du vil fortælle os?",
    "comment_hint": "Højst 2.000 tegn.",
    "submit": "Send mit svar",
    "nothing_yet": "Intet bliver registreret, før du trykker på »Send mit svar«.",
    "link_rating_unknown": "Bedømmelsen i linket kender vi ikke; vælg venligst en nedenfor.",
    "thanks_title": "Tak!",
    "thanks": "Dit svar er registreret.",
    "thanks_low": "Tak, fordi du fortalte os det. Vi beklager, at vi skuffede dig: din sag er sendt tilbage "
                  "til vores team.",
    "your_answer": "Dit svar",
    "rating_name": "Tilfredshed", "nps_name": "Anbefaling (0–10)", "ces_name": "Nemhed (1–7)",
    "comment_name": "Kommentar",
    "answered_title": "Allerede besvaret",
    "answered": "Denne undersøgelse er allerede besvaret. Tak: det første svar gælder.",
    "expired_title": "Linket er udløbet",
    "expired": "Links til undersøgelsen virker kun i en begrænset periode. Har du stadig brug for hjælp, så svar "
               "blot på vores besked.",
    "invalid_title": "Linket er ikke gyldigt",
    "invalid": "Det kan være blevet ændret eller afkortet. Åbn venligst linket fra vores besked igen, i sin helhed.",
    "wrong_ticket": "Det er ikke det link til undersøgelsen, vi sendte for denne sag.",
    "check_title": "Tjek venligst dit svar",
    "invalid_rating": "Vælg venligst en bedømmelse fra 1 til 5.",
    "invalid_nps": "Vælg venligst et tal fra 0 til 10 eller intet svar.",
    "invalid_ces": "Vælg venligst et tal fra 1 til 7 eller intet svar.",
    "invalid_comment": "Din kommentar er for lang: højst 2.000 tegn.",
    "invalid_other": "Formularen indeholdt noget, vi ikke spørger om. Åbn venligst linket fra vores besked igen.",
    "unreadable_title": "Formularen kunne ikke læses",
    "unreadable": "Åbn venligst linket fra vores besked igen, og send formularen en gang til.",
    "too_large_title": "Det var mere, end vi kan modtage",
    "too_large": "En kommentar må højst være på 2.000 tegn. Gå venligst tilbage, og gør den kortere.",
    "busy_title": "Endnu ikke registreret",
    "busy": "Vi kunne ikke registrere dit svar lige nu. Prøv venligst igen om et øjeblik.",
    "unavailable_title": "Undersøgelsen er ikke tilgængelig",
    "unavailable": "Undersøgelsen er ikke tilgængelig lige nu. Prøv venligst igen senere.",
    "back": "Tilbage til undersøgelsen",
    "months": ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober",
               "november", "december"),
    "date": "{day}. {month} {year}",
    "mail_intro": "Hvordan klarede vi det? Giv en bedømmelse fra 1 til 5 af, hvordan vi håndterede din "
                  "sag #{number}{about}.",
    "mail_how": "Hvert link åbner en kort side, hvor du bekræfter din bedømmelse og kan fortælle os mere; "
                "linkene virker indtil {date}.",
    "mail_help": "Har du stadig brug for hjælp? Så svar blot på denne besked.",
}

_NO: dict[str, Any] = {
    "title": "Hvordan gjorde vi det?",
    "about": "Om saken din #{number}",
    "rating_legend": "Hvor fornøyd er du med hvordan vi håndterte henvendelsen din?",
    "ratings": {5: "Svært fornøyd", 4: "Fornøyd", 3: "Nøytral", 2: "Misfornøyd", 1: "Svært misfornøyd"},
    "nps_legend": "Hvor sannsynlig er det at du vil anbefale oss til en venn eller kollega?",
    "nps_hint": "0 = ikke sannsynlig i det hele tatt, 10 = svært sannsynlig",
    "ces_legend": "Hvor enig er du: «Det var enkelt for meg å få løst saken min.»",
    "ces_scale": {1: "Helt uenig", 2: "Uenig", 3: "Litt uenig", 4: "Verken enig eller uenig", 5: "Litt enig",
                  6: "Enig", 7: "Helt enig"},
    "optional": "(valgfritt)",
    "no_answer": "Ikke svar",
    "comment_label": "Er det noe mer du vil fortelle oss?",
    "comment_hint": "Maks 2 000 tegn.",
    "submit": "Send svaret mitt",
    "nothing_yet": "Ingenting blir registrert før du trykker på «Send svaret mitt».",
    "link_rating_unknown": "Vurderingen i lenken kjenner vi ikke; velg en nedenfor.",
    "thanks_title": "Takk!",
    "thanks": "Svaret ditt er registrert.",
    "thanks_low": "Takk for at du sa fra. Vi beklager at vi skuffet deg: saken din er sendt tilbake til teamet vårt.",
    "your_answer": "Svaret ditt",
    "rating_name": "Tilfredshet", "nps_name": "Anbefaling (0–10)", "ces_name": "Enkelhet (1–7)",
    "comment_name": "Kommentar",
    "answered_title": "Allerede besvart",
    "answered": "Denne undersøkelsen er allerede besvart. Takk: det første svaret gjelder.",
    "expired_title": "Lenken har utløpt",
    "expired": "Lenker til undersøkelsen virker bare en begrenset tid. Trenger du fortsatt hjelp, kan du bare svare "
               "på meldingen vår.",
    "invalid_title": "Lenken er ikke gyldig",
    "invalid": "Den kan ha blitt endret eller kuttet. Åpne lenken fra meldingen vår på nytt, i sin helhet.",
    "wrong_ticket": "Dette er ikke lenken til undersøkelsen vi sendte for denne saken.",
    "check_title": "Sjekk svaret ditt",
    "invalid_rating": "Velg en vurdering fra 1 til 5.",
    "invalid_nps": "Velg et tall fra 0 til 10, eller ikke svar.",
    "invalid_ces": "Velg et tall fra 1 til 7, eller ikke svar.",
    "invalid_comment": "Kommentaren er for lang: maks 2 000 tegn.",
    "invalid_other": "Skjemaet inneholdt noe vi ikke spør om. Åpne lenken fra meldingen vår på nytt.",
    "unreadable_title": "Skjemaet kunne ikke leses",
    "unreadable": "Åpne lenken fra meldingen vår på nytt og send skjemaet en gang til.",
    "too_large_title": "Det var mer enn vi kan ta imot",
    "too_large": "En kommentar kan være maks 2 000 tegn. Gå tilbake og gjør den kortere.",
    "busy_title": "Ikke registrert ennå",
    "busy": "Vi kunne ikke registrere svaret ditt akkurat nå. Prøv igjen om et øyeblikk.",
    "unavailable_title": "Undersøkelsen er ikke tilgjengelig",
    "unavailable": "Undersøkelsen er ikke tilgjengelig akkurat nå. Prøv igjen senere.",
    "back": "Tilbake til undersøkelsen",
    "months": ("januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
               "november", "desember"),
    "date": "{day}. {month} {year}",
    "mail_intro": "Hvordan gjorde vi det? Gi en vurdering fra 1 til 5 av hvordan vi håndterte sak #{number}{about}.",
    "mail_how": "Hver lenke åpner en kort side der du bekrefter vurderingen og kan fortelle oss mer; "
                "lenkene virker til {date}.",
    "mail_help": "Trenger du fortsatt hjelp? Bare svar på denne meldingen.",
}

WORDING: Mapping[str, Mapping[str, Any]] = MappingProxyType({"en": _EN, "da": _DA, "no": _NO})
LANGUAGES: tuple[str, ...] = tuple(WORDING)


def language_for(code: str | None) -> str:
    """One of ``LANGUAGES`` for a ticket's language code; anything else (None, "de") is the default."""
    return code if code in WORDING else DEFAULT_LANGUAGE


def language_from_accept(header: str | None) -> str:
    """Our language a browser's ``Accept-Language`` weighs highest (the first listed on a tie); else the default."""
    return languages.from_accept(header) or DEFAULT_LANGUAGE


def wording(language: str) -> Mapping[str, Any]:
    """The strings of ``language`` (the default language's for one we do not have)."""
    return WORDING[language_for(language)]


def question(language: str, *, number: int, subject: str | None, links: Sequence[tuple[int, str]],
             expires_at: datetime) -> str:
    """The survey message, plain text for every channel (mail clients and chat apps turn URLs into links).

    ``links`` is (rating, URL) per rating, best first. Each link opens the survey page
    with that rating pre-selected; only the page's button records anything.
    """
    words = wording(language)
    lines = [words["mail_intro"].format(number=number, about=f" ({subject})" if subject else ""), ""]
    lines += [f"{rating} – {words['ratings'][rating]}: {url}" for rating, url in links]
    lines += ["", words["mail_how"].format(date=_date(words, expires_at)), words["mail_help"]]
    return "\n".join(lines)


def _date(words: Mapping[str, Any], moment: datetime) -> str:
    return words["date"].format(day=moment.day, month=words["months"][moment.month - 1], year=moment.year)
