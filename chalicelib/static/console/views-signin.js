// Sign-in: the emailed link (POST /auth/links), or an API token (rd_…) for scripts and admins.
import {api, session} from "./api.js";
import {clear, field, h} from "./dom.js";

export function render(ctx, reason) {
  const status = h("p", {role: "status", class: "status", id: "link-status"});
  const tokenStatus = h("p", {role: "status", class: "status", id: "token-status"});
  const email = h("input", {type: "email", name: "email", required: true, autocomplete: "email", id: "signin-email"});
  const linkForm = h("form", {class: "card", on: {submit: async (event) => {
    event.preventDefault();
    status.textContent = "Sending…";
    try {
      await api("POST", "auth/links", {body: {email: email.value.trim()}, auth: false});
      clear(status, "Check your mail: we sent a sign-in link to ", h("strong", {}, email.value.trim()),
        ". It works once, for a few minutes.");
    } catch (err) {
      status.textContent = `Could not send the link: ${err.message}`;
    }
  }}}, h("h2", {}, "Sign in with your email"), field("Work email", email),
  h("button", {type: "submit", class: "primary"}, "Email me a sign-in link"), status);

  const token = h("input", {type: "password", name: "token", autocomplete: "off", required: true, id: "signin-token",
    pattern: "rd_.+", spellcheck: "false"});
  const tokenForm = h("form", {class: "card", on: {submit: async (event) => {
    event.preventDefault();
    session.set({token: token.value.trim(), kind: "api"});
    tokenStatus.textContent = "Checking the token…";
    try {
      await ctx.signedIn();
    } catch (err) {
      session.clear();
      tokenStatus.textContent = `That token did not work: ${err.message}`;
    }
  }}}, h("h2", {}, "Or use an API token"), field("API token (rd_…)", token, "Kept in this tab only, until you sign out or close it."),
  h("button", {type: "submit"}, "Use token"), tokenStatus);

  clear(ctx.main, h("section", {class: "signin"}, h("h1", {}, "Relay Desk"),
    reason ? h("p", {class: "notice error", role: "alert"}, reason) : null, linkForm, tokenForm));
  email.focus();
}
