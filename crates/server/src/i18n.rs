//! The pages' words in English, German and French, chosen by `Accept-Language`,
//! rejection reasons included (the core says them in English; [`reason`] says them in
//! the page's language, with the same details filled in).

use axum::http::HeaderMap;

pub(crate) struct Texts {
    pub lang: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in_intro: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub sign_in_button: &'static str,
    pub or: &'static str,
    pub no_methods: &'static str,
    pub signed_out_title: &'static str,
    pub signed_out_body: &'static str,
    pub sign_in_again: &'static str,
    pub account_title: &'static str,
    pub signed_in_as: &'static str,
    pub linked_identities: &'static str,
    pub provider: &'static str,
    pub email: &'static str,
    pub first_linked: &'static str,
    pub last_login: &'static str,
    pub link_another: &'static str,
    pub link_button: &'static str,
    pub sign_in_with: &'static str,
    pub unlink: &'static str,
    pub unlink_confirm_title: &'static str,
    pub unlink_confirm_body: &'static str,
    pub cancel: &'static str,
    pub sign_out: &'static str,
    pub start_again: &'static str,
    pub back_to_login: &'static str,
    pub err_state_title: &'static str,
    pub err_provider_title: &'static str,
    pub err_unreachable_title: &'static str,
    pub err_unreachable_body: &'static str,
    pub err_not_found_title: &'static str,
    pub err_not_found_body: &'static str,
    pub err_rejected_title: &'static str,
    pub err_invalid_title: &'static str,
    pub err_invalid_body: &'static str,
    pub err_too_many_title: &'static str,
    pub err_too_many_body: &'static str,
    pub err_csrf_title: &'static str,
    pub err_csrf_body: &'static str,
    pub err_server_title: &'static str,
    pub err_server_body: &'static str,
    pub err_unavailable_title: &'static str,
    pub err_unavailable_body: &'static str,
    pub wrong_password: &'static str,
    pub sso_only: &'static str,
    pub disabled: &'static str,
    pub pending: &'static str,
    pub link_done: &'static str,
    pub unlinked: &'static str,
    pub link_taken: &'static str,
    pub link_exists: &'static str,
    pub last_method: &'static str,
    pub password_heading: &'static str,
    pub no_password_warning: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub repeat_password: &'static str,
    pub set_password: &'static str,
    pub password_hint: &'static str,
    pub reauth_to_set: &'static str,
    pub password_changed: &'static str,
    pub passwords_differ: &'static str,
    pub current_wrong: &'static str,
    pub password_too_short: &'static str,
    pub password_too_long: &'static str,
    pub password_is_identity: &'static str,
    pub password_blank: &'static str,
    pub reset_title: &'static str,
    pub reset_intro: &'static str,
    pub reset_invalid: &'static str,
    pub reset_done: &'static str,
}

const EN: Texts = Texts {
    lang: "en",
    sign_in_title: "Sign in",
    sign_in_intro: "Choose how to sign in.",
    username: "Username",
    password: "Password",
    sign_in_button: "Sign in",
    or: "or",
    no_methods: "No way to sign in is configured yet. Ask the administrator to add a provider.",
    signed_out_title: "You are signed out",
    signed_out_body: "Your session has ended.",
    sign_in_again: "Sign in again",
    account_title: "Your account",
    signed_in_as: "Signed in as",
    linked_identities: "Linked sign-in providers",
    provider: "Provider",
    email: "Email",
    first_linked: "First linked",
    last_login: "Last sign-in",
    link_another: "Link another provider",
    link_button: "Link {name}",
    sign_in_with: "Sign in with {name}",
    unlink: "Unlink",
    unlink_confirm_title: "Unlink {name}?",
    unlink_confirm_body: "You will no longer be able to sign in with {name}.",
    cancel: "Cancel",
    sign_out: "Sign out",
    start_again: "Start again",
    back_to_login: "Back to sign-in",
    err_state_title: "This sign-in cannot continue",
    err_provider_title: "The provider refused the sign-in",
    err_unreachable_title: "The provider cannot be reached",
    err_unreachable_body: "Signing in through this provider is not possible right now. Try again in a few minutes; if it keeps failing, tell the administrator.",
    err_not_found_title: "Unknown provider",
    err_not_found_body: "There is no sign-in provider at this address. Go back to the sign-in page and pick one from the list.",
    err_rejected_title: "You cannot sign in",
    err_invalid_title: "The sign-in could not be verified",
    err_invalid_body: "The answer from the provider failed a security check, so nobody was signed in. Start again; if it keeps failing, tell the administrator.",
    err_too_many_title: "Too many attempts",
    err_too_many_body: "There were too many sign-in attempts from your address. Wait a few minutes and try again.",
    err_csrf_title: "This form has expired",
    err_csrf_body: "The form could not be verified, so nothing was changed. Reload the page and try again.",
    err_server_title: "Something went wrong",
    err_server_body: "The error was recorded. Try again in a moment; if it keeps failing, tell the administrator.",
    err_unavailable_title: "Sign-in is unavailable for a moment",
    err_unavailable_body: "ssogate cannot reach its user directory right now, so nobody can be signed in. Your provider is not at fault. Try again in a minute; if it keeps failing, tell the administrator.",
    wrong_password: "Wrong username or password.",
    sso_only: "This account uses single sign-on. Please sign in with your provider.",
    disabled: "This account is disabled. Contact an administrator if you think this is a mistake.",
    pending: "This account is awaiting approval by an administrator. Try again once it has been approved.",
    link_done: "{name} is now linked to your account.",
    unlinked: "{name} is no longer linked to your account.",
    link_taken: "That {name} identity already belongs to another account; nothing was linked.",
    link_exists: "Your account already has a {name} identity; unlink it first.",
    last_method: "This is your only way to sign in. Link another provider first.",
    password_heading: "Password",
    no_password_warning: "Your account has no password: you can sign in only through a provider. Set one to keep a way in when the provider is unavailable.",
    current_password: "Current password",
    new_password: "New password",
    repeat_password: "New password, again",
    set_password: "Save password",
    password_hint: "At least {n} characters, not your username or email address.",
    reauth_to_set: "To set a first password, sign out and sign in again, then come back here within 10 minutes.",
    password_changed: "Your password is saved.",
    passwords_differ: "The two new passwords differ; nothing was changed.",
    current_wrong: "The current password is not right; nothing was changed.",
    password_too_short: "The password is too short: use at least {n} characters.",
    password_too_long: "The password is too long: use at most {n} characters.",
    password_is_identity: "The password must not be your username or email address.",
    password_blank: "The password cannot be only spaces.",
    reset_title: "Choose a password",
    reset_intro: "Choose a new password for {name}.",
    reset_invalid: "This link no longer works: it was used, a newer one replaced it, or it expired. Ask an administrator for a new one.",
    reset_done: "Your password is set, and every session of your account has ended. Sign in with the new password.",
};

const DE: Texts = Texts {
    lang: "de",
    sign_in_title: "Anmelden",
    sign_in_intro: "Wählen Sie, wie Sie sich anmelden.",
    username: "Benutzername",
    password: "Passwort",
    sign_in_button: "Anmelden",
    or: "oder",
    no_methods: "Es ist noch keine Anmeldemethode eingerichtet. Bitten Sie die Administration, einen Anbieter hinzuzufügen.",
    signed_out_title: "Sie sind abgemeldet",
    signed_out_body: "Ihre Sitzung wurde beendet.",
    sign_in_again: "Erneut anmelden",
    account_title: "Ihr Konto",
    signed_in_as: "Angemeldet als",
    linked_identities: "Verknüpfte Anmeldeanbieter",
    provider: "Anbieter",
    email: "E-Mail",
    first_linked: "Verknüpft seit",
    last_login: "Letzte Anmeldung",
    link_another: "Weiteren Anbieter verknüpfen",
    link_button: "{name} verknüpfen",
    sign_in_with: "Anmelden mit {name}",
    unlink: "Trennen",
    unlink_confirm_title: "{name} trennen?",
    unlink_confirm_body: "Sie können sich dann nicht mehr mit {name} anmelden.",
    cancel: "Abbrechen",
    sign_out: "Abmelden",
    start_again: "Neu beginnen",
    back_to_login: "Zurück zur Anmeldung",
    err_state_title: "Diese Anmeldung kann nicht fortgesetzt werden",
    err_provider_title: "Der Anbieter hat die Anmeldung abgelehnt",
    err_unreachable_title: "Der Anbieter ist nicht erreichbar",
    err_unreachable_body: "Die Anmeldung über diesen Anbieter ist gerade nicht möglich. Versuchen Sie es in einigen Minuten erneut; wenn es weiter scheitert, informieren Sie die Administration.",
    err_not_found_title: "Unbekannter Anbieter",
    err_not_found_body: "Unter dieser Adresse gibt es keinen Anmeldeanbieter. Gehen Sie zur Anmeldeseite zurück und wählen Sie einen aus der Liste.",
    err_rejected_title: "Anmeldung nicht möglich",
    err_invalid_title: "Die Anmeldung konnte nicht überprüft werden",
    err_invalid_body: "Die Antwort des Anbieters hat eine Sicherheitsprüfung nicht bestanden; niemand wurde angemeldet. Beginnen Sie neu; wenn es weiter scheitert, informieren Sie die Administration.",
    err_too_many_title: "Zu viele Versuche",
    err_too_many_body: "Von Ihrer Adresse kamen zu viele Anmeldeversuche. Warten Sie einige Minuten und versuchen Sie es erneut.",
    err_csrf_title: "Dieses Formular ist abgelaufen",
    err_csrf_body: "Das Formular konnte nicht überprüft werden; nichts wurde geändert. Laden Sie die Seite neu und versuchen Sie es erneut.",
    err_server_title: "Etwas ist schiefgegangen",
    err_server_body: "Der Fehler wurde protokolliert. Versuchen Sie es gleich noch einmal; wenn es weiter scheitert, informieren Sie die Administration.",
    err_unavailable_title: "Die Anmeldung ist kurz nicht verfügbar",
    err_unavailable_body: "ssogate erreicht sein Benutzerverzeichnis gerade nicht, daher kann sich niemand anmelden. Ihr Anbieter ist nicht schuld. Versuchen Sie es in einer Minute noch einmal; wenn es weiter scheitert, informieren Sie die Administration.",
    wrong_password: "Falscher Benutzername oder falsches Passwort.",
    sso_only: "Dieses Konto verwendet Single Sign-On. Bitte melden Sie sich über Ihren Anbieter an.",
    disabled: "Dieses Konto ist deaktiviert. Wenden Sie sich an die Administration, wenn das ein Irrtum ist.",
    pending: "Dieses Konto wartet auf Freigabe durch die Administration. Versuchen Sie es nach der Freigabe erneut.",
    link_done: "{name} ist jetzt mit Ihrem Konto verknüpft.",
    unlinked: "{name} ist nicht mehr mit Ihrem Konto verknüpft.",
    link_taken: "Diese {name}-Identität gehört bereits zu einem anderen Konto; nichts wurde verknüpft.",
    link_exists: "Ihr Konto hat bereits eine {name}-Identität; trennen Sie diese zuerst.",
    last_method: "Dies ist Ihre einzige Anmeldemöglichkeit. Verknüpfen Sie zuerst einen weiteren Anbieter.",
    password_heading: "Passwort",
    no_password_warning: "Ihr Konto hat kein Passwort: Sie können sich nur über einen Anbieter anmelden. Legen Sie eines fest, um Zugang zu behalten, wenn der Anbieter nicht erreichbar ist.",
    current_password: "Aktuelles Passwort",
    new_password: "Neues Passwort",
    repeat_password: "Neues Passwort wiederholen",
    set_password: "Passwort speichern",
    password_hint: "Mindestens {n} Zeichen, nicht Ihr Benutzername oder Ihre E-Mail-Adresse.",
    reauth_to_set: "Um ein erstes Passwort festzulegen, melden Sie sich ab und wieder an und kommen Sie innerhalb von 10 Minuten hierher zurück.",
    password_changed: "Ihr Passwort ist gespeichert.",
    passwords_differ: "Die beiden neuen Passwörter unterscheiden sich; nichts wurde geändert.",
    current_wrong: "Das aktuelle Passwort stimmt nicht; nichts wurde geändert.",
    password_too_short: "Das Passwort ist zu kurz: Verwenden Sie mindestens {n} Zeichen.",
    password_too_long: "Das Passwort ist zu lang: Verwenden Sie höchstens {n} Zeichen.",
    password_is_identity: "Das Passwort darf nicht Ihr Benutzername oder Ihre E-Mail-Adresse sein.",
    password_blank: "Das Passwort darf nicht nur aus Leerzeichen bestehen.",
    reset_title: "Passwort wählen",
    reset_intro: "Wählen Sie ein neues Passwort für {name}.",
    reset_invalid: "Dieser Link funktioniert nicht mehr: Er wurde benutzt, durch einen neueren ersetzt oder ist abgelaufen. Bitten Sie einen Administrator um einen neuen.",
    reset_done: "Ihr Passwort ist festgelegt, und alle Sitzungen Ihres Kontos wurden beendet. Melden Sie sich mit dem neuen Passwort an.",
};

const FR: Texts = Texts {
    lang: "fr",
    sign_in_title: "Connexion",
    sign_in_intro: "Choisissez comment vous connecter.",
    username: "Nom d’utilisateur",
    password: "Mot de passe",
    sign_in_button: "Se connecter",
    or: "ou",
    no_methods: "Aucun moyen de connexion n’est encore configuré. Demandez à l’administrateur d’ajouter un fournisseur.",
    signed_out_title: "Vous êtes déconnecté",
    signed_out_body: "Votre session est terminée.",
    sign_in_again: "Se reconnecter",
    account_title: "Votre compte",
    signed_in_as: "Connecté en tant que",
    linked_identities: "Fournisseurs de connexion liés",
    provider: "Fournisseur",
    email: "E-mail",
    first_linked: "Lié depuis",
    last_login: "Dernière connexion",
    link_another: "Lier un autre fournisseur",
    link_button: "Lier {name}",
    sign_in_with: "Se connecter avec {name}",
    unlink: "Délier",
    unlink_confirm_title: "Délier {name} ?",
    unlink_confirm_body: "Vous ne pourrez plus vous connecter avec {name}.",
    cancel: "Annuler",
    sign_out: "Se déconnecter",
    start_again: "Recommencer",
    back_to_login: "Retour à la connexion",
    err_state_title: "Cette connexion ne peut pas continuer",
    err_provider_title: "Le fournisseur a refusé la connexion",
    err_unreachable_title: "Le fournisseur est injoignable",
    err_unreachable_body: "La connexion par ce fournisseur est impossible pour le moment. Réessayez dans quelques minutes ; si cela persiste, prévenez l’administrateur.",
    err_not_found_title: "Fournisseur inconnu",
    err_not_found_body: "Il n’y a pas de fournisseur de connexion à cette adresse. Revenez à la page de connexion et choisissez-en un dans la liste.",
    err_rejected_title: "Connexion impossible",
    err_invalid_title: "La connexion n’a pas pu être vérifiée",
    err_invalid_body: "La réponse du fournisseur a échoué à un contrôle de sécurité ; personne n’a été connecté. Recommencez ; si cela persiste, prévenez l’administrateur.",
    err_too_many_title: "Trop de tentatives",
    err_too_many_body: "Trop de tentatives de connexion depuis votre adresse. Patientez quelques minutes puis réessayez.",
    err_csrf_title: "Ce formulaire a expiré",
    err_csrf_body: "Le formulaire n’a pas pu être vérifié ; rien n’a été modifié. Rechargez la page et réessayez.",
    err_server_title: "Une erreur est survenue",
    err_server_body: "L’erreur a été enregistrée. Réessayez dans un instant ; si cela persiste, prévenez l’administrateur.",
    err_unavailable_title: "La connexion est momentanément indisponible",
    err_unavailable_body: "ssogate ne peut pas joindre son annuaire d’utilisateurs pour le moment : personne ne peut se connecter. Votre fournisseur n’y est pour rien. Réessayez dans une minute ; si cela persiste, prévenez l’administrateur.",
    wrong_password: "Nom d’utilisateur ou mot de passe incorrect.",
    sso_only: "Ce compte utilise l’authentification unique. Connectez-vous avec votre fournisseur.",
    disabled: "Ce compte est désactivé. Contactez un administrateur si vous pensez que c’est une erreur.",
    pending: "Ce compte attend l’approbation d’un administrateur. Réessayez une fois qu’il aura été approuvé.",
    link_done: "{name} est maintenant lié à votre compte.",
    unlinked: "{name} n’est plus lié à votre compte.",
    link_taken: "Cette identité {name} appartient déjà à un autre compte ; rien n’a été lié.",
    link_exists: "Votre compte a déjà une identité {name} ; déliez-la d’abord.",
    last_method: "C’est votre seul moyen de connexion. Liez d’abord un autre fournisseur.",
    password_heading: "Mot de passe",
    no_password_warning: "Votre compte n’a pas de mot de passe : vous ne pouvez vous connecter que par un fournisseur. Définissez-en un pour garder un accès quand le fournisseur est indisponible.",
    current_password: "Mot de passe actuel",
    new_password: "Nouveau mot de passe",
    repeat_password: "Nouveau mot de passe, à nouveau",
    set_password: "Enregistrer le mot de passe",
    password_hint: "Au moins {n} caractères, ni votre nom d’utilisateur ni votre adresse e-mail.",
    reauth_to_set: "Pour définir un premier mot de passe, déconnectez-vous puis reconnectez-vous, et revenez ici dans les 10 minutes.",
    password_changed: "Votre mot de passe est enregistré.",
    passwords_differ: "Les deux nouveaux mots de passe diffèrent ; rien n’a été modifié.",
    current_wrong: "Le mot de passe actuel n’est pas le bon ; rien n’a été modifié.",
    password_too_short: "Le mot de passe est trop court : utilisez au moins {n} caractères.",
    password_too_long: "Le mot de passe est trop long : utilisez au plus {n} caractères.",
    password_is_identity: "Le mot de passe ne doit être ni votre nom d’utilisateur ni votre adresse e-mail.",
    password_blank: "Le mot de passe ne peut pas être fait que d’espaces.",
    reset_title: "Choisir un mot de passe",
    reset_intro: "Choisissez un nouveau mot de passe pour {name}.",
    reset_invalid: "Ce lien ne fonctionne plus : il a été utilisé, remplacé par un plus récent, ou il a expiré. Demandez-en un nouveau à un administrateur.",
    reset_done: "Votre mot de passe est défini, et toutes les sessions de votre compte sont terminées. Connectez-vous avec le nouveau mot de passe.",
};

/// The best of our languages for an `Accept-Language` header (RFC 9110 12.5.4);
/// English when none fits.
pub(crate) fn texts(headers: &HeaderMap) -> &'static Texts {
    let Some(header) = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return &EN;
    };
    let mut best: Option<(f32, &'static Texts)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        let found = match primary {
            "en" => Some(&EN),
            "de" => Some(&DE),
            "fr" => Some(&FR),
            _ => None,
        };
        if let Some(t) = found
            && q > 0.0
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, t));
        }
    }
    best.map_or(&EN, |(_, t)| t)
}

/// Replaces `{name}` in a text.
pub(crate) fn with_name(text: &str, name: &str) -> String {
    text.replace("{name}", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(v: &str) -> &'static str {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::ACCEPT_LANGUAGE,
            axum::http::HeaderValue::from_str(v)
                .unwrap_or(axum::http::HeaderValue::from_static("")),
        );
        texts(&h).lang
    }

    #[test]
    fn accept_language_picks_the_best_quality() {
        assert_eq!(pick("de-DE,de;q=0.9,en;q=0.5"), "de");
        assert_eq!(pick("es, fr;q=0.8, en;q=0.7"), "fr");
        assert_eq!(pick("ja"), "en");
        assert_eq!(pick("fr;q=0, de;q=0.1"), "de");
        assert_eq!(pick(""), "en");
    }
}

/// A rejection reason in the page's language. A rule's own message is the
/// administrator's words and is shown as written; the details of unusable claims stay
/// as the core says them (they are for the administrator).
pub(crate) fn reason(t: &Texts, r: &ssogate_core::decision::RejectReason) -> String {
    use ssogate_core::decision::RejectReason as R;
    let en = t.lang == "en";
    match (t.lang, r) {
        (_, R::DeniedByRule { .. }) | (_, R::InvalidClaims(_)) | (_, R::AssignmentFailed { .. }) => {
            r.to_string()
        }
        _ if en => r.to_string(),
        (_, R::AccountDisabled) => t.disabled.to_owned(),
        (_, R::AwaitingApproval) => t.pending.to_owned(),
        ("de", R::NotInAllowedGroup) => "Die Anmeldung ist Mitgliedern bestimmter Gruppen vorbehalten, und Sie gehören keiner davon an. Bitten Sie die Administration um Zugang.".into(),
        ("fr", R::NotInAllowedGroup) => "La connexion est réservée aux membres de certains groupes, et vous n’en faites partie d’aucun. Demandez l’accès à un administrateur.".into(),
        ("de", R::AutoProvisioningDisabled) => "Konten werden nicht automatisch angelegt, und kein Konto passt zu Ihnen. Bitten Sie die Administration, Ihr Konto anzulegen.".into(),
        ("fr", R::AutoProvisioningDisabled) => "La création automatique de comptes est désactivée, et aucun compte ne vous correspond. Demandez à un administrateur de créer votre compte.".into(),
        ("de", R::AccountCreationDisabled) => "Hier werden keine neuen Konten angelegt; nur bestehende Konten können sich anmelden. Bitten Sie die Administration, Ihr Konto anzulegen.".into(),
        ("fr", R::AccountCreationDisabled) => "Aucun nouveau compte ne peut être créé ici ; seuls les comptes existants peuvent se connecter. Demandez à un administrateur de créer votre compte.".into(),
        ("de", R::ExistingAccountNotAdoptable { matched_by }) => format!("Ein Konto mit passendem Merkmal ({matched_by}) besteht bereits und darf von diesem Anbieter nicht übernommen werden. Melden Sie sich auf anderem Weg an oder bitten Sie die Administration, es zu verknüpfen."),
        ("fr", R::ExistingAccountNotAdoptable { matched_by }) => format!("Un compte correspondant ({matched_by}) existe déjà et ne peut pas être repris par ce fournisseur. Connectez-vous autrement, ou demandez à un administrateur de le lier."),
        ("de", R::EmailInUse { email }) => format!("Ein Konto mit der E-Mail-Adresse {email} besteht bereits. Melden Sie sich dort an und verknüpfen Sie diesen Anbieter auf Ihrer Kontoseite, oder wenden Sie sich an die Administration."),
        ("fr", R::EmailInUse { email }) => format!("Un compte avec l’adresse {email} existe déjà. Connectez-vous à ce compte et liez ce fournisseur depuis votre page de compte, ou contactez un administrateur."),
        ("de", R::UsernameConflict { username }) => format!("Der Benutzername „{username}“ ist bereits vergeben. Bitten Sie die Administration, den Konflikt zu lösen."),
        ("fr", R::UsernameConflict { username }) => format!("Le nom d’utilisateur « {username} » est déjà pris. Demandez à un administrateur de résoudre le conflit."),
        ("de", R::NoUsername) => "Aus Ihren Angaben ließ sich kein Benutzername ableiten. Bitten Sie die Administration, die Zuordnung des Benutzernamens zu prüfen.".into(),
        ("fr", R::NoUsername) => "Aucun nom d’utilisateur n’a pu être déduit de vos informations. Demandez à l’administrateur de vérifier la correspondance du nom d’utilisateur.".into(),
        _ => r.to_string(),
    }
}

#[cfg(test)]
mod reason_tests {
    use super::*;
    use ssogate_core::decision::RejectReason as R;

    #[test]
    fn reasons_are_said_in_the_page_language_with_their_details() {
        let taken = R::UsernameConflict {
            username: "ada".into(),
        };
        assert_eq!(reason(&EN, &taken), taken.to_string());
        assert!(reason(&DE, &taken).contains("„ada“"));
        assert!(reason(&FR, &taken).contains("« ada »"));
        assert_eq!(reason(&DE, &R::AccountDisabled), DE.disabled);
        let rule = R::DeniedByRule {
            rule: "contractors".into(),
            message: "Contractors use the other portal.".into(),
        };
        assert_eq!(reason(&FR, &rule), "Contractors use the other portal.");
        for r in [
            R::NotInAllowedGroup,
            R::AutoProvisioningDisabled,
            R::AccountCreationDisabled,
            R::NoUsername,
            R::EmailInUse {
                email: "a@b".into(),
            },
            R::ExistingAccountNotAdoptable {
                matched_by: "email".into(),
            },
        ] {
            for t in [&DE, &FR] {
                assert_ne!(reason(t, &r), r.to_string(), "{} {:?}", t.lang, r);
            }
        }
    }
}
