with

days as (

    {{ dbt.date_spine(
        datepart='day',
        start_date="cast('" ~ var('date_spine_start') ~ "' as date)",
        end_date="cast('" ~ var('date_spine_end') ~ "' as date)",
    ) }}

),

final as (

    select
        cast(date_day as date) as date_day,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start_date,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start_date,
        cast(extract(year from date_day) as integer) as calendar_year,
        cast(extract(quarter from date_day) as integer) as calendar_quarter,
        cast(extract(month from date_day) as integer) as calendar_month,
        cast(to_char(date_day, 'YYYY-MM') as varchar(7)) as year_month,
        cast(to_char(date_day, 'Mon') as varchar(3)) as month_name_short,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast(extract(dow from date_day) as integer) as day_of_week,
        cast(to_char(date_day, 'Dy') as varchar(3)) as day_name_short,
        extract(dow from date_day) in (0, 6) as is_weekend
    from days

)

select * from final
