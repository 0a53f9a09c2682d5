{#- The start of the frequent cycle's test window on `relation`: the newest value of `column` there
    minus var test_window_hours (env UNIFY_TEST_WINDOW_HOURS), a timestamp literal read while the test
    compiles (a scalar subquery offline; see newest_minus). Returns none when the var is empty:
    the nightly and catch-up builds test every row. Used by get_where_subquery (generic tests on models
    whose yml sets meta.test_window_column) and by singular tests that scope themselves the same way. -#}
{% macro test_window_start(relation, column) -%}
    {%- set hours = var('test_window_hours', '') | string | trim -%}
    {%- if hours == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not hours.isdigit() -%}
        {{ exceptions.raise_compiler_error("test_window_hours (env UNIFY_TEST_WINDOW_HOURS) must be a whole number of "
                                           ~ "hours or empty, not '" ~ hours ~ "'") }}
    {%- endif -%}
    {{ return(unify.newest_minus(relation, column, hours, 'hour')) }}
{%- endmacro %}
