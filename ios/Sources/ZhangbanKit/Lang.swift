import Foundation

/// Which of the core's two texts (Chinese, English) a screen shows. The shell only picks one.
public enum Lang: Sendable {
    case zh, en

    public func pick(_ zh: String, _ en: String) -> String { self == .zh ? zh : en }

    /// The core's bilingual `Text` record in this language.
    public func pick(_ text: Text) -> String { pick(text.zh, text.en) }

    /// Chinese for every `zh` locale (zh-Hans, zh-Hant-HK, …), English otherwise.
    public static func of(_ locale: Locale) -> Lang {
        locale.language.languageCode?.identifier == "zh" ? .zh : .en
    }

    public static var current: Lang { of(Locale.current) }
}

public struct NoticeText: Equatable, Sendable {
    public let title: String
    public let body: String
}

public extension Notice {
    func text(_ lang: Lang) -> NoticeText { NoticeText(title: lang.pick(titleZh, titleEn), body: lang.pick(bodyZh, bodyEn)) }
}

public extension ZhangbanError {
    /// What happened and what to do, from the core.
    func text(_ lang: Lang) -> String { lang.pick(textZh(), textEn()) }

    /// The core's rule of when the host asks the person to confirm it is them (finding 6): this error only.
    var asksForPerson: Bool {
        if case .NeedsUserAuthentication = self { return true }
        return false
    }
}

/// The core's text for any error a call throws (a non-core error shows its own description).
public func errorText(_ error: Error, _ lang: Lang) -> String {
    (error as? ZhangbanError)?.text(lang) ?? error.localizedDescription
}

public extension LicenceSummary {
    func issuerName(_ lang: Lang) -> String { lang.pick(issuer.nameZh, issuer.nameEn) }
}

/// Form values as the FFI's JSON text (`ZhangbanDraft.set(path:value:)`, `FieldState.value`).
public enum FormJSON {
    /// `nil` → `null`; String, Bool, numbers, arrays and string-keyed dictionaries as JSON.
    public static func encode(_ value: Any?) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: value ?? NSNull(), options: [.fragmentsAllowed])
        return String(decoding: data, as: UTF8.self)
    }

    public static func decode(_ json: String) -> Any? {
        guard let v = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) else {
            return nil
        }
        return v is NSNull ? nil : v
    }
}
