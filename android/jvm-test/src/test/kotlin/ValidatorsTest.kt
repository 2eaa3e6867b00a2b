package org.zhangban.jvmtest

import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.addWorkingDays
import uniffi.zhangban_ffi.checkCreditCode
import uniffi.zhangban_ffi.checkIdNumber
import uniffi.zhangban_ffi.checkLicenceId
import uniffi.zhangban_ffi.isWorkday
import uniffi.zhangban_ffi.workingDaysBetween

/** Field validators and the working-day calendar as a shell calls them while a person types. */
class ValidatorsTest {
    @Test
    fun identifiersAreCheckedWithTypedReasons() {
        assertNull(checkIdNumber("11010519491231002X", "2026-12-06"))
        val typo = assertNotNull(checkIdNumber("110105194912310021", "2026-12-06"))
        assertEquals("check_character", typo.code)
        assertTrue(typo.text.zh.isNotEmpty() && typo.text.en.isNotEmpty())
        val e = assertFailsWith<ZhangbanException.Validation> { checkIdNumber("11010519491231002X", "06/12/2026") }
        assertEquals("today", e.field)
        assertNull(checkCreditCode("11100000000013338W"), "national-level credit code (region 100000)")
        assertEquals("check_character", checkCreditCode("11100000000013338X")?.code)
        // The standard's 21-character type code: well formed, unknown to the app -> its own reason.
        val base = "1.2.156.3005.2.11100000000013338W011.11100000000013338W.7.1."
        val codes = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".map { checkLicenceId(base + it)?.code }
        assertEquals(35, codes.count { it == "check_character" })
        assertEquals(listOf("unknown_licence_type"), codes.filter { it != "check_character" })
        assertEquals("part", checkLicenceId("1.2.156.3005.2.1101.11100000000013338W.7.1.V")?.code)
    }

    @Test
    fun calendarFunctionsCrossWithBoundedDates() {
        assertTrue(isWorkday("2024-02-18").working) // 调休 Sunday
        val off = isWorkday("2024-02-12")
        assertFalse(off.working)
        assertNotNull(off.holidayZh)
        assertEquals(2L, workingDaysBetween("2024-02-08", "2024-02-18").days)
        assertEquals("2024-02-18", addWorkingDays("2024-02-08", 2u).date)
        val over = assertFailsWith<ZhangbanException.Validation> { addWorkingDays("9999-12-31", 1u) }
        assertEquals("n", over.field)
        assertEquals("start", assertFailsWith<ZhangbanException.Validation> { addWorkingDays("2024-02-30", 1u) }.field)
        assertEquals("to", assertFailsWith<ZhangbanException.Validation> { workingDaysBetween("2024-02-01", "x") }.field)
        assertEquals("date", assertFailsWith<ZhangbanException.Validation> { isWorkday("2024-2-8") }.field)
    }
}
